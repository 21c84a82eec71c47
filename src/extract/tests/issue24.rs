//! Issue 24: the six kinds of failure seen on reports modelled on real advisories, each in
//! several languages: every range of a field kept, labelled values that end where they
//! should, the labels of CERT and CNA formats, severity stated in a sentence or only as a
//! score, the body's title under a generic Subject, and the layouts of kind 6.

use super::*;

pub(super) fn ranges_of(fields: &Fields) -> Vec<String> {
    fields
        .affected
        .iter()
        .map(|r| {
            let mut parts = Vec::new();
            for (key, value) in [
                ("introduced", &r.introduced),
                ("fixed", &r.fixed),
                ("last_affected", &r.last_affected),
            ] {
                if let Some(v) = value {
                    parts.push(format!("{key}={v}"));
                }
            }
            parts.join(" ")
        })
        .collect()
}

/// Kind 1: one range per release line, in lists, sentences and CJK prose, every one kept.
#[test]
fn every_range_is_kept_in_every_language() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "en",
            "Affected versions: 2.7.x before 2.7.8, 3.0.x before 3.0.7, 3.1.x before 3.1.2\n",
            &[
                "introduced=2.7.0 fixed=2.7.8",
                "introduced=3.0.0 fixed=3.0.7",
                "introduced=3.1.0 fixed=3.1.2",
            ],
        ),
        (
            "en-two-sided",
            "Affected versions: >= 1.0.0 < 1.6.0\n",
            &["introduced=1.0.0 fixed=1.6.0"],
        ),
        (
            "en-release-tokens",
            "Affected versions:\n9.1R18.2 and earlier\n22.4R2.1 and earlier\n",
            &["last_affected=9.1R18.2", "last_affected=22.4R2.1"],
        ),
        (
            "de",
            "Betroffene Versionen: 3.2.x vor 3.2.9, 3.3.x vor 3.3.4\n",
            &[
                "introduced=3.2.0 fixed=3.2.9",
                "introduced=3.3.0 fixed=3.3.4",
            ],
        ),
        (
            "fr",
            "Systèmes affectés :\n- Ciboulette versions 4.3.x antérieures à 4.3.12\n- Ciboulette versions 4.4.x antérieures à 4.4.21\n",
            &[
                "introduced=4.3.0 fixed=4.3.12",
                "introduced=4.4.0 fixed=4.4.21",
            ],
        ),
        (
            "es",
            "Versiones afectadas: 4.0 a 4.6 y 5.0 a 5.3\n",
            &[
                "introduced=4.0 last_affected=4.6",
                "introduced=5.0 last_affected=5.3",
            ],
        ),
        (
            "it",
            "Prodotti e versioni affette:\n- Pergola Gateway versioni 9.1.x precedenti alla 9.1.14\n- Pergola Gateway versioni 9.2.x precedenti alla 9.2.5\n",
            &[
                "introduced=9.1.0 fixed=9.1.14",
                "introduced=9.2.0 fixed=9.2.5",
            ],
        ),
        (
            "pt",
            "Versões afetadas: >= 4.0.0 até < 4.2.7; >= 5.0.0 até < 5.1.3\n",
            &[
                "introduced=4.0.0 fixed=4.2.7",
                "introduced=5.0.0 fixed=5.1.3",
            ],
        ),
        (
            "nl",
            "Versies: 15.1.0 tot en met 15.1.2507 en 15.2.0 tot en met 15.2.1544\n",
            &[
                "introduced=15.1.0 last_affected=15.1.2507",
                "introduced=15.2.0 last_affected=15.2.1544",
            ],
        ),
        (
            "ru",
            "Уязвимые версии:\n5.3.x до 5.3.2\n5.2.x до 5.2.4\n",
            &[
                "introduced=5.3.0 fixed=5.3.2",
                "introduced=5.2.0 fixed=5.2.4",
            ],
        ),
        (
            "uk",
            "Уражені версії: від 1.2.0 до 1.4.6\n",
            &["introduced=1.2.0 last_affected=1.4.6"],
        ),
        (
            "pl",
            "Podatne wersje: 8.2R12.1 i wcześniejsze w gałęzi 8.2, 9.1R3 i wcześniejsze w gałęzi 9.1\n",
            &["last_affected=8.2R12.1", "last_affected=9.1R3"],
        ),
        (
            "zh-Hans",
            "影响版本：青松学习平台 2.4.11及之前版本，2.5.9之前的2.5.x版本，2.6.6之前的2.6.x版本\n",
            &[
                "last_affected=2.4.11",
                "introduced=2.5.0 fixed=2.5.9",
                "introduced=2.6.0 fixed=2.6.6",
            ],
        ),
        (
            "zh-Hant",
            "受影響版本：StarOS 5.0.0 至 5.1.2 及 5.2.0 至 5.2.1\n",
            &[
                "introduced=5.0.0 last_affected=5.1.2",
                "introduced=5.2.0 last_affected=5.2.1",
            ],
        ),
        (
            "ja",
            "影響を受けるバージョン：1.x 系の 1.2.0 以降 1.2.9 未満、2.x 系の 2.0.0 以降 2.0.4 未満\n",
            &[
                "introduced=1.2.0 fixed=1.2.9",
                "introduced=2.0.0 fixed=2.0.4",
            ],
        ),
        (
            "ko",
            "영향받는 버전:\n- 9.8.4 ~ 9.16.32 버전\n- 9.18.0 ~ 9.18.6 버전\n",
            &[
                "introduced=9.8.4 last_affected=9.16.32",
                "introduced=9.18.0 last_affected=9.18.6",
            ],
        ),
    ];
    for (name, text, want) in cases {
        let fields = extract(Some("x"), text);
        assert_eq!(ranges_of(&fields), *want, "case {name}: {fields:#?}");
    }
}

/// Kind 1 and item 1: fixed versions stated apart are `fixed_versions`, never a range.
#[test]
fn fixed_versions_stated_apart_are_not_affected() {
    let cases: &[(&str, &str, &[&str], &[&str])] = &[
        (
            "en",
            "Affected versions:\n- 2.7.x before 2.7.8\nFixed in: 2.7.8, 3.0.7\n",
            &["introduced=2.7.0 fixed=2.7.8"],
            &["2.7.8", "3.0.7"],
        ),
        (
            "de",
            "Betroffene Versionen: 2.0-beta9 bis 2.14.1\nBehoben in: 2.15.0\n",
            &["introduced=2.0-beta9 last_affected=2.14.1"],
            &["2.15.0"],
        ),
        (
            "fr",
            "Versions affectées : 7.0 à 7.4\nLa faille est corrigée dans les versions 7.0.14 et 7.2.7.\n",
            &["introduced=7.0 last_affected=7.4"],
            &["7.0.14", "7.2.7"],
        ),
        (
            "zh-Hans",
            "影响版本：3.0.0 至 3.2.4\n修复版本：3.2.5\n",
            &["introduced=3.0.0 last_affected=3.2.4"],
            &["3.2.5"],
        ),
        (
            "ru",
            "Затронутые версии: 3.2.0 – 3.4.7\nВозможные меры по устранению: Обновление программного обеспечения до версии 3.4.8 или 4.1.3\n",
            &["introduced=3.2.0 last_affected=3.4.7"],
            &["3.4.8", "4.1.3"],
        ),
    ];
    for (name, text, ranges, fixed) in cases {
        let fields = extract(Some("x"), text);
        assert_eq!(ranges_of(&fields), *ranges, "case {name}: {fields:#?}");
        assert_eq!(fields.fixed_versions, *fixed, "case {name}: {fields:#?}");
    }
}

/// Kind 2: a labelled value ends at the next paragraph, a fixed-versions line, a closing
/// formula or a signature; one case per language.
#[test]
fn labelled_values_end_where_they_should_in_every_language() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "en",
            "Affected versions:\n2.0 - 2.3\n\nThe bug was found while testing uploads.\n\nRegards,\nJane Doe\n",
            "2.0 - 2.3",
        ),
        (
            "en-heading",
            "## Affected versions\n\n- 2.7.x before 2.7.8\n- 3.0.x before 3.0.7\n\nBoth lines ship the same parser.\n\n## Impact\n\nRead any file.\n",
            "2.7.x before 2.7.8\n3.0.x before 3.0.7",
        ),
        (
            "de-heading",
            "### Betroffene Versionen\n\n4.0 bis 4.2\n\nDie Prüfung fehlt in allen drei Versionen.\n",
            "4.0 bis 4.2",
        ),
        (
            "de",
            "Betroffene Versionen: 3.2.x vor 3.2.9\n\nIch habe den Fehler nachvollzogen.\n\nMit freundlichen Grüßen\nJakob Wendler\n",
            "3.2.x vor 3.2.9",
        ),
        (
            "fr",
            "Versions affectées :\n4.1 à 4.3\n\nLe champ n'est pas échappé.\n\nCordialement,\nInès Haddad\n",
            "4.1 à 4.3",
        ),
        (
            "es",
            "Versiones afectadas:\n1.4.0 a 1.4.8\nVersiones corregidas: 1.4.9\n\nUn saludo,\nDiego Fuentes\n",
            "1.4.0 a 1.4.8",
        ),
        (
            "it",
            "Versioni interessate: dalla 3.0 fino alla 3.8.2\n\nIl modulo segue i collegamenti.\n\nCordiali saluti\nMatteo Sanna\n",
            "dalla 3.0 fino alla 3.8.2",
        ),
        (
            "pt",
            "Versões afetadas:\n1.8.0 até 1.8.3\n\nO upload aceita arquivos .phtml.\n\nAbraços,\nJoão Silva\n",
            "1.8.0 até 1.8.3",
        ),
        (
            "nl",
            "Getroffen versies: 4.0 tot en met 4.12.2\n\nHet formulier controleert niets.\n\nMet vriendelijke groet,\nSanne de Vries\n",
            "4.0 tot en met 4.12.2",
        ),
        (
            "ru",
            "Уязвимые версии:\n2.0 – 2.4\n\nСлужба не проверяет подпись.\n\nС уважением,\nПавел Орлов\n",
            "2.0 – 2.4",
        ),
        (
            "uk",
            "Уражені версії: 1.2.0 – 1.4.6\n\nМодуль не перевіряє довжину.\n\nЗ повагою,\nМарта Коваль\n",
            "1.2.0 – 1.4.6",
        ),
        (
            "pl",
            "Podatne wersje:\n7.1.0 – 7.1.4\n\nParametr nie jest filtrowany.\n\nZ poważaniem\nPiotr Nowak\n",
            "7.1.0 – 7.1.4",
        ),
        (
            "zh-Hans",
            "影响版本：3.0.0 至 3.2.4\n\n评论区在渲染昵称时未进行转义。\n\n此致\n敬礼！\n张明\n",
            "3.0.0 至 3.2.4",
        ),
        (
            "zh-Hant",
            "影響版本：5.0.0 至 5.1.2\n\n排程服務以 root 身分執行腳本。\n\n敬祝 順心\n林志豪\n",
            "5.0.0 至 5.1.2",
        ),
        (
            "ja",
            "影響を受けるバージョン：2.0〜2.4.3\n\n以上、よろしくお願いいたします。\n鈴木 一郎\n",
            "2.0〜2.4.3",
        ),
        (
            "ko",
            "영향받는 버전: 9.8.4 ~ 9.16.32\n\n헤더 테이블 크기를 줄이면 메모리가 재사용됩니다.\n\n감사합니다.\n김민준\n",
            "9.8.4 ~ 9.16.32",
        ),
    ];
    for (name, text, want) in cases {
        let fields = extract(Some("x"), text);
        assert_eq!(
            fields.affected_versions.as_deref(),
            Some(*want),
            "case {name}: {fields:#?}"
        );
    }
}

/// Kind 2: the signature after a closing formula gives the credit and the contact.
#[test]
fn the_closing_gives_name_and_address() {
    let cases: &[(&str, &str, &str, Option<&str>)] = &[
        (
            "de",
            "Titel: X\n\nText.\n\nMit freundlichen Grüßen\nJakob Wendler\njakob.wendler@example.net\n",
            "Jakob Wendler",
            Some("jakob.wendler@example.net"),
        ),
        (
            "nl",
            "Titel: X\n\nTekst.\n\nMet vriendelijke groet,\nSanne de Vries\nsanne@example.net\n",
            "Sanne de Vries",
            Some("sanne@example.net"),
        ),
        (
            "zh-Hans",
            "标题：X\n\n说明。\n\n此致\n敬礼！\n张明\n",
            "张明",
            None,
        ),
        (
            "en",
            "Title: X\n\nText.\n\nThanks,\nWen Xiaoyu <wen.xiaoyu@example.net>\n",
            "Wen Xiaoyu",
            Some("wen.xiaoyu@example.net"),
        ),
    ];
    for (name, text, credit, contact) in cases {
        let fields = extract(Some("x"), text);
        assert_eq!(fields.credit_name.as_deref(), Some(*credit), "case {name}");
        assert_eq!(fields.contact.as_deref(), *contact, "case {name}");
    }
}

/// Kind 3: the field labels of real advisory formats (the vocabulary names each format).
#[test]
fn labels_of_advisory_formats() {
    let cases: &[(&str, &str, FieldName, &str)] = &[
        (
            "CERT-FR",
            "Systèmes affectés : Ciboulette 4.3",
            FieldName::AffectedVersions,
            "Ciboulette 4.3",
        ),
        (
            "CERT-FR",
            "Risques : Exécution de code arbitraire à distance",
            FieldName::Impact,
            "Exécution de code arbitraire à distance",
        ),
        (
            "INCIBE-CERT",
            "Recursos afectados: Pinar 88.0",
            FieldName::AffectedVersions,
            "Pinar 88.0",
        ),
        (
            "INCIBE-CERT",
            "Importancia: 5 - Crítica",
            FieldName::Severity,
            "critical",
        ),
        (
            "CERT-Bund",
            "Risikostufe: hoch",
            FieldName::Severity,
            "high",
        ),
        (
            "CERT-Bund",
            "Betroffene Systeme: Kassenagent 4.2",
            FieldName::AffectedVersions,
            "Kassenagent 4.2",
        ),
        (
            "CSIRT Italia",
            "Prodotti e versioni affette: Pergola 9.1",
            FieldName::AffectedVersions,
            "Pergola 9.1",
        ),
        (
            "CERT.br",
            "Sistemas afetados: Farol 2.0",
            FieldName::AffectedVersions,
            "Farol 2.0",
        ),
        (
            "NCSC-NL",
            "Toepassingen: Zeilboot Mailserver 15.1",
            FieldName::AffectedVersions,
            "Zeilboot Mailserver 15.1",
        ),
        (
            "BDU FSTEC",
            "Наименование уязвимости: Обход проверки подписи",
            FieldName::Title,
            "Обход проверки подписи",
        ),
        (
            "BDU FSTEC",
            "Уровень опасности уязвимости: Высокий уровень опасности",
            FieldName::Severity,
            "high",
        ),
        (
            "BDU FSTEC",
            "Возможные меры по устранению: обновить ПО",
            FieldName::SuggestedFix,
            "обновить ПО",
        ),
        (
            "CERT-UA",
            "Вразливі продукти: Ladan 1.83",
            FieldName::AffectedVersions,
            "Ladan 1.83",
        ),
        (
            "CERT Polska",
            "Dostawca: Wilga",
            FieldName::AffectedComponent,
            "Wilga",
        ),
        ("CNVD", "危害级别：高", FieldName::Severity, "high"),
        (
            "CNVD",
            "漏洞解决方案：升级到 3.2.5",
            FieldName::SuggestedFix,
            "升级到 3.2.5",
        ),
        (
            "TWCERT/CC",
            "解決方法：更新至 5.1.3",
            FieldName::SuggestedFix,
            "更新至 5.1.3",
        ),
        (
            "JVN",
            "影響を受けるシステム：みどり掲示板 2.3.1",
            FieldName::AffectedVersions,
            "みどり掲示板 2.3.1",
        ),
        (
            "JVN",
            "対策方法：最新版へアップデート",
            FieldName::SuggestedFix,
            "最新版へアップデート",
        ),
        (
            "KrCERT",
            "해결방안: 최신 버전으로 업데이트",
            FieldName::SuggestedFix,
            "최신 버전으로 업데이트",
        ),
        (
            "GitHub",
            "Package: rukzak-jwt (npm)",
            FieldName::AffectedComponent,
            "rukzak-jwt",
        ),
    ];
    for (format, line, field, want) in cases {
        let fields = extract(Some("x"), &format!("{line}\n"));
        assert_eq!(
            fields.get(*field).as_deref(),
            Some(*want),
            "{format}: {line:?} {fields:#?}"
        );
    }
}

/// Kind 4: severity stated in a sentence or only as a score, marked inferred; a stated word
/// wins over a score; nothing is guessed from nothing.
#[test]
fn severity_in_sentences_and_scores() {
    let cases: &[(&str, &str, Option<Severity>)] = &[
        (
            "en-prose",
            "The issue was rated critical by the vendor's PSIRT.",
            Some(Severity::Critical),
        ),
        (
            "en-out-of",
            "I would put it at 9.8 out of 10.",
            Some(Severity::Critical),
        ),
        (
            "en-cvss",
            "This is CVSS 10.0 territory.",
            Some(Severity::Critical),
        ),
        (
            "en-base",
            "CVSS v3.1 base score 5.5, no vector yet.",
            Some(Severity::Medium),
        ),
        (
            "de-prose",
            "Ich stufe die Lücke deshalb als kritisch ein.",
            Some(Severity::Critical),
        ),
        ("de-score", "CVSS-Basiswert: 5,5", Some(Severity::Medium)),
        (
            "fr-sur-10",
            "D'une gravité de 9,6 sur 10, cette faille permet l'exécution de code.",
            Some(Severity::Critical),
        ),
        (
            "es-prose",
            "La gravedad de esta vulnerabilidad es\ncrítica para los equipos.",
            Some(Severity::Critical),
        ),
        (
            "it-prose",
            "Il bollettino viene etichettato come «critico».",
            Some(Severity::Critical),
        ),
        (
            "nl-prose",
            "Jullie securityteam beoordeelt het lek als kritiek.",
            Some(Severity::Critical),
        ),
        (
            "pl-prose",
            "Producent zaklasyfikował lukę jako krytyczną.",
            Some(Severity::Critical),
        ),
        (
            "pl-score",
            "Ocena: 5,4 na 10 w skali CVSS 3.1.",
            Some(Severity::Medium),
        ),
        (
            "zh-Hans-prose",
            "该漏洞已被厂商评定为严重级别。",
            Some(Severity::Critical),
        ),
        (
            "ko-prose",
            "모든 버전에 대해 중요 등급이 지정됩니다.",
            Some(Severity::High),
        ),
        (
            "en-none",
            "The upload accepts any file name. Version 3.1 is in use.",
            None,
        ),
        (
            "de-none",
            "Die Schwachstelle betrifft Version 9.8 des Dienstes.",
            None,
        ),
        ("en-negated", "This is rated not critical by anyone.", None),
    ];
    for (name, text, want) in cases {
        let fields = extract(Some("x"), text);
        assert_eq!(fields.severity(), *want, "case {name}: {fields:#?}");
        assert_eq!(fields.inferred.severity, want.is_some(), "case {name}");
    }
    // A stated word wins over a score in the same report.
    let fields = extract(
        Some("x"),
        "Severity: low\n\nI scored it 9.8 out of 10 at first.\n",
    );
    assert_eq!(fields.severity(), Some(Severity::Low));
    assert!(!fields.inferred.severity);
    let fields = extract(Some("x"), "It is rated high by the vendor, CVSS 9.8.\n");
    assert_eq!(fields.severity(), Some(Severity::High));
}

/// Kind 5: under a generic Subject the body's title line is the title.
#[test]
fn title_from_the_body_when_the_subject_is_generic() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "en",
            "Security report",
            "# Stored XSS in the comment preview\n\nText.\n",
            "Stored XSS in the comment preview",
        ),
        (
            "en-line",
            "Security report",
            "CVE-2026-3581: Timing leak in RSA-OAEP decoding\n\nText follows here.\n",
            "CVE-2026-3581: Timing leak in RSA-OAEP decoding",
        ),
        (
            "de",
            "Sicherheitslücke",
            "## Umgehung der Anmeldung über Wiederherstellungscodes\n\nText.\n",
            "Umgehung der Anmeldung über Wiederherstellungscodes",
        ),
        (
            "fr",
            "Avis de sécurité",
            "Multiples vulnérabilités dans Ciboulette\n\nRisques : exécution de code.\n",
            "Multiples vulnérabilités dans Ciboulette",
        ),
        (
            "it",
            "Vulnerabilità",
            "Oggetto della segnalazione: Lettura di file arbitrari\n\nTesto.\n",
            "Lettura di file arbitrari",
        ),
        (
            "zh-Hans",
            "安全漏洞报告",
            "漏洞名称：云雀CMS 评论区存储型跨站脚本漏洞\n\n说明。\n",
            "云雀CMS 评论区存储型跨站脚本漏洞",
        ),
        (
            "nl",
            "Beveiligingsadvies",
            "### Kwetsbaarheid verholpen in Havenmeester\n\nTekst.\n",
            "Kwetsbaarheid verholpen in Havenmeester",
        ),
        (
            "specific",
            "XSS in search",
            "# Another heading\n\nText.\n",
            "Another heading",
        ),
        (
            "specific-kept",
            "XSS in search",
            "## Details\n\nText.\n",
            "XSS in search",
        ),
    ];
    for (name, subject, text, want) in cases {
        let fields = extract(Some(subject), text);
        assert_eq!(fields.title.as_deref(), Some(*want), "case {name}");
    }
    let html = html_to_text(
        "<html><body><h2>Scrittura fuori dai limiti nel decodificatore</h2><p>Testo.</p></body></html>",
    );
    let fields = extract(Some("Bollettino di sicurezza"), &html);
    assert_eq!(
        fields.title.as_deref(),
        Some("Scrittura fuori dai limiti nel decodificatore")
    );
}

/// Kind 6: a header row over several value rows, "Ver. X 〜 Ver. Y", platforms.
#[test]
fn layouts_of_kind_six() {
    let html = html_to_text(
        "<table><tr><th>Prodotto</th><th>Versioni affette</th><th>Versione correttiva</th></tr>\
         <tr><td>Tessera Desktop</td><td>2.8.0 – 2.8.6</td><td>2.8.7</td></tr>\
         <tr><td>Tessera Server</td><td>3.0.0 – 3.0.2</td><td>3.0.3</td></tr></table>",
    );
    let fields = extract(Some("Bollettino"), &html);
    assert_eq!(
        fields.affected_versions.as_deref(),
        Some("2.8.0 – 2.8.6\n3.0.0 – 3.0.2"),
        "{html}"
    );
    assert_eq!(
        ranges_of(&fields),
        [
            "introduced=2.8.0 last_affected=2.8.6",
            "introduced=3.0.0 last_affected=3.0.2"
        ]
    );
    assert_eq!(fields.fixed_versions, ["2.8.7", "3.0.3"]);

    let fields = extract(Some("x"), "対象バージョン：Ver. 1.0 〜 Ver. 1.4\n");
    assert_eq!(ranges_of(&fields), ["introduced=1.0 last_affected=1.4"]);
    let fields = extract(Some("x"), "영향받는 버전: 1.0부터 1.4까지\n");
    assert_eq!(ranges_of(&fields), ["introduced=1.0 last_affected=1.4"]);

    for text in [
        "Affected platforms: Windows 10 and 11\n",
        "Podatne systemy: Windows 10 i Windows 11\n",
        "Затронутые платформы: Windows 10 и Windows 11, Windows Server 2019 и 2022\n",
        "影響平台：Windows 10 與 Windows 11\n",
    ] {
        let fields = extract(Some("x"), text);
        assert!(fields.affected_versions.is_some(), "{text}");
        assert!(fields.affected.is_empty(), "{text}: {:?}", fields.affected);
    }
}
