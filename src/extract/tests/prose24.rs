//! Issue 24, the fields of the prose part: severity stated in a sentence (the level far from its
//! statement word, quoted, inflected, in the adjective of the word for the flaw), in an
//! advisory header's `impact:` line or a bulletin's impact heading, in mails that end with a
//! signature delimiter; the vulnerability type under a one-word heading and from a CWE line;
//! credit and contact from sentences and contact lines that give a name with the address.
//! Each rule in at least two languages.

use super::*;

fn severity_of(text: &str) -> Option<Severity> {
    extract(Some("x"), text).severity()
}

#[test]
fn severity_in_a_sentence_far_from_its_word_or_inflected() {
    let cases: &[(&str, &str, Severity)] = &[
        // The label word in a sentence, the level at its end (vendor bulletins).
        (
            "ko-label-sentence",
            "이 보안 업데이트의 심각도는 지원되는 모든 버전의 구름 웹 서버에 대해 긴급입니다.",
            Severity::Critical,
        ),
        (
            "ko-quoted",
            "날짜만 바꿔 가며 요청하면 됩니다. 위험도는 '높음'으로 판단됩니다.",
            Severity::High,
        ),
        (
            "en-quoted",
            "After a second look the risk is rated 'medium' by me.",
            Severity::Medium,
        ),
        (
            "de-wichtig",
            "Dieses Sicherheitsupdate ist für alle Editionen als wichtig eingestuft.",
            Severity::High,
        ),
        (
            "pl-genitive",
            "Według mojej oceny luka jest średniej wagi, bo nazwa pliku jest stała.",
            Severity::Medium,
        ),
        (
            "ru-accusative",
            "Я оцениваю уязвимость как среднюю по степени опасности: токен живёт 15 минут.",
            Severity::Medium,
        ),
        (
            "ru-vendor",
            "Производитель, с которым я уже связался, оценил уязвимость как высокоопасную.",
            Severity::High,
        ),
        (
            "uk-vendor",
            "Розробник, якому я написав минулого тижня, оцінив вразливість як критичну.",
            Severity::Critical,
        ),
    ];
    for (name, text, want) in cases {
        let fields = extract(Some("x"), text);
        assert_eq!(fields.severity(), Some(*want), "case {name}: {fields:#?}");
        assert!(fields.inferred.severity, "case {name}: read from prose");
    }
}

#[test]
fn severity_as_the_adjective_of_the_flaw() {
    let cases: &[(&str, &str, Option<Severity>)] = &[
        (
            "pt-title",
            "ALERTA 07/2026: Vulnerabilidade crítica no firewall Muralha\n\nA falha afeta as versões anteriores à 2.6.0.\n",
            Some(Severity::Critical),
        ),
        (
            "en-title",
            "A critical vulnerability in the upload handler\n\nAny user can write files.\n",
            Some(Severity::Critical),
        ),
        (
            "de-sentence",
            "Ich habe eine kritische Schwachstelle im Parser gefunden.\n",
            Some(Severity::Critical),
        ),
        (
            "ru-sentence",
            "В модуле импорта есть критическая уязвимость.\n",
            Some(Severity::Critical),
        ),
        // Punctuation between the words, or "no vulnerability", states nothing.
        (
            "en-apart",
            "The page has a vulnerability. High traffic makes it worse.\n",
            None,
        ),
        (
            "pt-none",
            "Não encontrei nenhuma vulnerabilidade além desta falha, baixa a versão 2.0.\n",
            None,
        ),
        (
            "fr-apart",
            "La faille, critique pour nous, touche le module d'export.\n",
            None,
        ),
    ];
    for (name, text, want) in cases {
        assert_eq!(severity_of(text), *want, "case {name}");
    }
}

/// The mails of the corpus that end with "-- " and a signature: the delimiter does not hide
/// the severity stated above it.
#[test]
fn severity_above_a_signature_delimiter() {
    let cases: &[(&str, &str, Severity)] = &[
        (
            "ko",
            "안녕하세요,\n\n백업 파일이 웹 루트 아래에 저장됩니다. 위험도는 '높음'으로 판단됩니다.\n\n영향받는 버전: 0.9.0 이하\n\n감사합니다.\n이서연 드림\n-- \n이서연 / 보안 연구원\n",
            Severity::High,
        ),
        (
            "pl",
            "Dzień dobry,\n\nPlik zawiera skróty haseł. Według mojej oceny luka jest średniej wagi.\n\nPodatna wersja: 12.4 i wcześniejsze\n\nPozdrawiam\nEwa Nowicka\n-- \nEwa Nowicka | Zespół bezpieczeństwa\n",
            Severity::Medium,
        ),
        (
            "ru",
            "Здравствуйте!\n\nТокен уходит третьей стороне. Я оцениваю уязвимость как среднюю по степени опасности.\n\nЗатронутые версии: 1.4.0–1.4.3\n\nС уважением,\nМарина Белова\n-- \nОтправлено с мобильного устройства\n",
            Severity::Medium,
        ),
    ];
    for (name, text, want) in cases {
        assert_eq!(severity_of(text), Some(*want), "case {name}");
    }
}

#[test]
fn severity_from_an_impact_header_line_or_heading() {
    let header = "Orchard Labs Security Advisory < 20260911-0 >\n\
        =======================================================================\n\
        \x20            title: Multiple Reflected XSS Vulnerabilities\n\
        \x20          product: Orchard Plant Monitor\n\
        vulnerable version: <=C4.93\n\
        \x20           impact: medium\n\
        \x20         homepage: https://plantmonitor.example.com\n\
        \x20            found: 2026-07-02\n\
        =======================================================================\n\n\
        Vendor description:\n-------------------\nPlant Monitor shows sensor values.\n";
    let fields = extract(Some("Security advisory"), header);
    assert_eq!(fields.severity(), Some(Severity::Medium), "{fields:#?}");
    assert!(!fields.inferred.severity, "a labelled level is stated");

    let bulletin = "Vulnerabilità in Pergola Gateway\n\nSintesi\nDue vulnerabilità nel portale.\n\n\
        Azioni di mitigazione\nAggiornare i prodotti.\n\nImpatto sistemico\nAlto (66.41)\n";
    assert_eq!(severity_of(bulletin), Some(Severity::High));

    let prose = "Impact:\nHigh-value accounts can be taken over by any visitor.\n";
    assert_eq!(severity_of(prose), None);
}

#[test]
fn vulnerability_type_under_a_heading_or_from_the_cwe_line() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "it-heading",
            "Sintesi\nDue vulnerabilità.\n\nTipologia\nAuthentication Bypass, Remote Code Execution\n\nProdotti e versioni affette\n- Pergola 9.1\n",
            "Authentication Bypass, Remote Code Execution",
        ),
        (
            "de-heading",
            "Zusammenfassung\nZwei Lücken.\n\nTyp\nSQL-Injection, Cross-Site Scripting\n\nBetroffene Versionen\n1.0 bis 1.4\n",
            "SQL-Injection, Cross-Site Scripting",
        ),
        (
            "ru-bdu",
            "Класс уязвимости: Уязвимость кода\nТип ошибки: CWE-502: Десериализация недоверенных данных\n",
            "CWE-502: Десериализация недоверенных данных",
        ),
        (
            "en-class-then-cwe",
            "Class: Input validation\nVulnerability type: CWE-79: Improper Neutralization of Input\n",
            "CWE-79: Improper Neutralization of Input",
        ),
        (
            "en-cwe-first",
            "Vulnerability type: CWE-89\nClass: Injection\n",
            "CWE-89",
        ),
        (
            "zh-Hant-twcert",
            "**弱點類型：**伺服器端請求偽造（SSRF）\n",
            "伺服器端請求偽造（SSRF）",
        ),
        ("zh-Hans", "弱点类型：SQL 注入\n", "SQL 注入"),
    ];
    for (name, text, want) in cases {
        let fields = extract(Some("x"), text);
        assert_eq!(
            fields.vulnerability_type.as_deref(),
            Some(*want),
            "case {name}: {fields:#?}"
        );
    }
    // A lower-case word alone on a line is a wrapped sentence, not a heading.
    let fields = extract(
        Some("x"),
        "The upload accepts any\ntype\nof file and stores it under the web root.\n",
    );
    assert_ne!(
        fields.vulnerability_type.as_deref(),
        Some("of file and stores it under the web root.")
    );
}

#[test]
fn contact_and_credit_from_contact_lines_and_sentences() {
    // (case, text, credit, contact)
    let cases: &[(&str, &str, Option<&str>, Option<&str>)] = &[
        (
            "nl-name-and-address",
            "Onderdeel: blogmodule\n\nDe naam wordt zonder codering getoond.\n\nContactgegevens: Daan Jansen, daan.jansen@example.org\n",
            Some("Daan Jansen"),
            Some("daan.jansen@example.org"),
        ),
        (
            "en-angle",
            "Component: upload\n\nContact: Jane Doe <jane@example.org>\n",
            Some("Jane Doe"),
            Some("jane@example.org"),
        ),
        (
            "uk-issue-form",
            "### Контактні дані\n\nmarta.koval@example.net\n\n### Опис вразливості\n\nФайл CSV не екранує значення.\n",
            None,
            Some("marta.koval@example.net"),
        ),
        (
            "ru-contact-data",
            "Описание: токен в адресе.\nКонтактные данные: i.sokolova@example.org\n",
            None,
            Some("i.sokolova@example.org"),
        ),
        (
            "zh-Hans-author-table",
            "| Item | Details |\n|---|---|\n| Project | hetao-pan |\n| Author | wang.lei@example.com |\n\n## 漏洞描述\n\n日志下载接口未做路径规范化。\n",
            None,
            Some("wang.lei@example.com"),
        ),
        (
            "en-author-address",
            "Author: jane@example.org\n\nDescription:\nThe form reflects input.\n",
            None,
            Some("jane@example.org"),
        ),
        (
            "es-sentence",
            "Descripción:\nEl servicio acepta rutas arbitrarias.\n\nDetalle:\nVulnerabilidad descubierta por Rocío Vidal.\n",
            Some("Rocío Vidal"),
            None,
        ),
        (
            "en-acknowledgements",
            "Description\nThe console accepts empty signatures.\n\nAcknowledgements\nThanks to Amara Okafor for reporting this vulnerability.\n",
            Some("Amara Okafor"),
            None,
        ),
        (
            "it-crediti",
            "Descrizione\nIl parametro q non è codificato.\n\nCrediti\nScoperto da Lorenzo Bianchi durante un audit.\n",
            Some("Lorenzo Bianchi"),
            None,
        ),
        (
            "it-last-line",
            "Componente: ricerca\n\nIl parametro q non è codificato.\n\nSegnalato da Lorenzo Bianchi.\n",
            Some("Lorenzo Bianchi"),
            None,
        ),
    ];
    for (name, text, credit, contact) in cases {
        let fields = extract(Some("x"), text);
        assert_eq!(
            (fields.credit_name.as_deref(), fields.contact.as_deref()),
            (*credit, *contact),
            "case {name}: {fields:#?}"
        );
    }
}

#[test]
fn a_bulletin_number_line_is_not_the_title() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "fr",
            "Bulletin de sécurité KS26-007 - Critique",
            "Bulletin de sécurité Kestrel KS26-007 - Critique\n\nLa vulnérabilité dans le moteur de rendu Vitrail peut autoriser l'exécution de code à distance\n\nPublication : 11 février 2026 | Version : 1.0\n\nRésumé\n\nCette mise à jour résout une vulnérabilité.\n",
            "La vulnérabilité dans le moteur de rendu Vitrail peut autoriser l'exécution de code à distance",
        ),
        (
            "pt",
            "Boletim de segurança",
            "Boletim de Segurança Farol FS26-008\n\nVulnerabilidade no serviço de sincronização do Farol pode permitir a execução remota de códigos\n\nPublicado em: 14 de fevereiro de 2026\n",
            "Vulnerabilidade no serviço de sincronização do Farol pode permitir a execução remota de códigos",
        ),
        (
            "nl-betreft",
            "Beveiligingsadvies",
            "Security Advisory\nNCSC-2026-0312 [1.0.1]\n\nPrioriteit\nHoog\n\nBetreft\nKwetsbaarheden verholpen in Zeilboot Mailserver\n\nRevisies\n",
            "Kwetsbaarheden verholpen in Zeilboot Mailserver",
        ),
        // A title that names a CVE in a sentence stays the title.
        (
            "en-sentence",
            "Vulnerability CVE-2026-1234 in the export parser",
            "The export parser reads past its buffer.\n",
            "Vulnerability CVE-2026-1234 in the export parser",
        ),
    ];
    for (name, subject, text, want) in cases {
        let fields = extract(Some(subject), text);
        assert_eq!(
            fields.title.as_deref(),
            Some(*want),
            "case {name}: {fields:#?}"
        );
    }
}
