//! Issue 24, the versions of real bulletins: each general rule with the words of two
//! languages or more, and what the rule must leave alone.

use super::issue24::ranges_of;
use super::*;

fn versions(text: &str) -> Option<String> {
    extract(Some("x"), text).affected_versions
}

/// A sentence whose verb says its versions fix the flaw names fixed versions, wherever
/// the versions stand in it.
#[test]
fn fixing_sentences_name_fixed_versions() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "es",
            "El fallo afecta a todas las versiones desde la 3.0 hasta la 5.2.0.\nLa versión 5.2.1, publicada la semana pasada, lo corrige.\n",
            &["5.2.1"],
        ),
        (
            "nl",
            "Het probleem zit in alle versies vóór 4.12.3 en is niet ernstig. Versie 4.12.3 lost het op.\n",
            &["4.12.3"],
        ),
        (
            "de",
            "Betroffen sind alle Versionen bis einschließlich 4.8.2. Behoben ist der Fehler in\nVersion 4.8.3, die gestern erschien.\n",
            &["4.8.3"],
        ),
        (
            "it",
            "Sono vulnerabili le versioni dalla 12.5 alla 12.9 e dalla 14.0 alla 14.2; le versioni 12.9.1 e 14.2.1 correggono il problema.\n",
            &["12.9.1", "14.2.1"],
        ),
        (
            "ko",
            "8.2R12.0 이하 버전은 영향을 받지 않습니다. 패키지 버전 8.2R12.2로 업데이트하는 것이 좋습니다.\n",
            &["8.2R12.2"],
        ),
        // No fixing word: the versions of the sentence stay affected ones.
        (
            "nl-none",
            "Het probleem zit in versie 4.12.3 en ouder.\n",
            &[],
        ),
        ("es-none", "La versión 5.2.1 también es vulnerable.\n", &[]),
    ];
    check_fixed(cases);
}

/// A fixing sentence leaves out the versions it names as affected ("up to 4.2", "4.0 bis
/// 4.2"); only the ones it installs are fixed.
#[test]
fn fixing_sentences_leave_out_affected_bounds() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "de",
            "Das Problem in 4.0 bis 4.2 ist behoben in 4.3.1.\n",
            &["4.3.1"],
        ),
        (
            "en",
            "Release 2.4.1 fixes the issue that 2.4.0 and earlier have.\n",
            &["2.4.1"],
        ),
    ];
    check_fixed(cases);
}

/// On a "Fixed in:" key line every version is fixed, not only the first of a list.
#[test]
fn fixed_key_lines_give_every_version() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "de",
            "Betroffene Versionen: 2.0-beta9 bis 2.14.1\n\nBehoben in: 2.15.0; für Java 7 in 2.12.2\n",
            &["2.15.0", "2.12.2"],
        ),
        (
            "en",
            "Affected versions: 3.0 to 3.1.3\n\nFixed in: 3.1.4; for the 2 line in 2.9.9\n",
            &["3.1.4", "2.9.9"],
        ),
    ];
    check_fixed(cases);
}

/// The versions a fix section tells to install are fixed versions; scores and the
/// versions it names as affected are not.
#[test]
fn fix_sections_name_fixed_versions() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "uk",
            "Уразливі версії: 6.0 – 6.3.2\n\nРекомендації:\n1. Оновити шлюз до версії 6.3.3.\n2. До оновлення вимкнути прийом архівів.\n",
            &["6.3.3"],
        ),
        (
            "zh-Hant",
            "受影響版本：StarOS 5.0.0 至 5.1.2 及 5.2.0 至 5.2.1\n\n[建議措施]\n1.更新 StarOS 至 5.1.3 或 5.2.2（含）以後版本。\n2.避免將管理介面暴露於網際網路。\n",
            &["5.1.3", "5.2.2"],
        ),
        (
            "ko",
            "□ 영향받는 버전\n 5.0.0 미만\n\n□ 해결 방안\n o 버전 업그레이드를 통한 조치\n  - 9.16.33\n  - 9.18.7\n",
            &["9.16.33", "9.18.7"],
        ),
        (
            "en",
            "Affected versions: 1.0 to 1.4.2\n\nSolution:\nInstall release 1.4.3 on every node.\nIts CVSS 7.5 score holds until then.\n",
            &["1.4.3"],
        ),
    ];
    check_fixed(cases);
}

/// The header row of a revision table ("Version  Datum  Beschreibung") is no label; an
/// aligned label with a value still is.
#[test]
fn revision_table_header_is_not_a_label() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "de",
            "Änderungshistorie\nVersion  Datum       Name            Beschreibung\n1.0      14.10.2026  CERT Beispiel   Initiale Veröffentlichung\n\nBetroffene Versionen: 2.0-beta9 bis 2.14.1\n",
            "2.0-beta9 bis 2.14.1",
        ),
        (
            "nl",
            "Revisies\nVersie  Datum             Opmerking\n1.0.0   12-08-2026 05:43  Initiele versie\n\nGetroffen versies: 15.1.0 tot en met 15.1.2507\n",
            "15.1.0 tot en met 15.1.2507",
        ),
        ("en", "Versions        2.0 - 2.2\n", "2.0 - 2.2"),
    ];
    for (name, text, want) in cases {
        assert_eq!(versions(text).as_deref(), Some(*want), "case {name}");
    }
}

/// "Versions before:" over one product and version per line: the list under the line is
/// the value, and its bound is every line's bound.
#[test]
fn a_bound_before_a_list_bounds_every_line() {
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "es",
            "Recursos afectados:\n\nLas versiones del navegador anteriores a:\n\n    • Pinar 88.0.1\n    • Pinar para Android 88.1.3\n\nDescripción:\nUn fallo.\n",
            "Las versiones del navegador anteriores a:\n\nPinar 88.0.1\nPinar para Android 88.1.3",
            &["fixed=88.0.1", "fixed=88.1.3"],
        ),
        (
            "en",
            "Affected versions:\nAll versions up to:\n\n  - Foo 1.2.3\n  - Foo Mobile 2.0.1\n\nDescription:\nA flaw.\n",
            "All versions up to:\n\nFoo 1.2.3\nFoo Mobile 2.0.1",
            &["last_affected=1.2.3", "last_affected=2.0.1"],
        ),
    ];
    for (name, text, want, ranges) in cases {
        let fields = extract(Some("x"), text);
        assert_eq!(
            fields.affected_versions.as_deref(),
            Some(*want),
            "case {name}"
        );
        assert_eq!(ranges_of(&fields), *ranges, "case {name}: {fields:#?}");
    }
}

/// "- Product: A. Affected versions: …" on several list items: every item's versions.
#[test]
fn versions_of_every_list_item_after_another_label() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "pt",
            "As versões vulneráveis incluem:\n- Produto: Jangada Office 2024. Versões afetadas: >= 4.0.0 até < 4.2.7\n- Produto: Jangada Office 2026. Versões afetadas: >= 5.0.0 até < 5.1.3\n",
            &[
                "introduced=4.0.0 fixed=4.2.7",
                "introduced=5.0.0 fixed=5.1.3",
            ],
        ),
        (
            "en",
            "The vulnerable releases are:\n- Product: Raft Office 2024. Affected versions: >= 4.0.0, < 4.2.7\n- Product: Raft Office 2026. Affected versions: >= 5.0.0, < 5.1.3\n",
            &[
                "introduced=4.0.0 fixed=4.2.7",
                "introduced=5.0.0 fixed=5.1.3",
            ],
        ),
    ];
    check_ranges(cases);
}

/// Products with their versions, one per list item and under no label, are the affected
/// list as written; one such item alone is not a list.
#[test]
fn product_lines_under_no_label() {
    let cases: &[(&str, &str, Option<&str>, &[&str])] = &[
        (
            "ja",
            "対象となる製品およびバージョンは次のとおりです。\n- 風見ブラウザ 60.0.2 より前のバージョン\n- 風見ブラウザ ESR 52.8.1 より前のバージョン\n",
            Some(
                "- 風見ブラウザ 60.0.2 より前のバージョン\n- 風見ブラウザ ESR 52.8.1 より前のバージョン",
            ),
            &["fixed=60.0.2", "fixed=52.8.1"],
        ),
        (
            "ko",
            "□ 영향받는 소프트웨어\n o 새별 DNS\n  - 새별 DNS 9.8.4 ~ 9.16.32 버전\n  - 새별 DNS 9.18.0 ~ 9.18.6 버전\n",
            Some("o 새별 DNS\n- 새별 DNS 9.8.4 ~ 9.16.32 버전\n- 새별 DNS 9.18.0 ~ 9.18.6 버전"),
            &[
                "introduced=9.8.4 last_affected=9.16.32",
                "introduced=9.18.0 last_affected=9.18.6",
            ],
        ),
        (
            "en-one-item",
            "Tested on:\n- Foo 2.4.1 and earlier\n",
            Some("2.4.1 and earlier"),
            &["last_affected=2.4.1"],
        ),
    ];
    for (name, text, want, ranges) in cases {
        let fields = extract(Some("x"), text);
        assert_eq!(fields.affected_versions.as_deref(), *want, "case {name}");
        assert_eq!(ranges_of(&fields), *ranges, "case {name}: {fields:#?}");
    }
}

/// A product field of several lines, each with a version, is the affected list; the
/// product it repeats stays the component.
#[test]
fn a_product_list_is_the_affected_list() {
    // name, text, affected versions, component, ranges.
    type ProductCase = (
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
        &'static [&'static str],
    );
    let cases: &[ProductCase] = &[
        (
            "ja",
            "対象製品\n星川ランタイム SE 18\n星川ランタイム SE 17.0.2 およびそれ以前\n",
            "星川ランタイム SE 18\n星川ランタイム SE 17.0.2 およびそれ以前",
            Some("星川ランタイム SE"),
            &["introduced=18 last_affected=18", "last_affected=17.0.2"],
        ),
        (
            "en",
            "Affected products:\nFoo Server 3.2.1 and earlier\nFoo Agent 1.0.4 and earlier\n",
            "Foo Server 3.2.1 and earlier\nFoo Agent 1.0.4 and earlier",
            None,
            &["last_affected=3.2.1", "last_affected=1.0.4"],
        ),
    ];
    for (name, text, want, component, ranges) in cases {
        let fields = extract(Some("x"), text);
        assert_eq!(
            fields.affected_versions.as_deref(),
            Some(*want),
            "case {name}"
        );
        assert_eq!(
            fields.affected_component.as_deref(),
            *component,
            "case {name}"
        );
        assert_eq!(ranges_of(&fields), *ranges, "case {name}: {fields:#?}");
    }
}

/// A document's "Version: 1.0" gives way to a label that names what is affected.
#[test]
fn a_bare_version_key_gives_way_to_a_named_one() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "pt",
            "Publicado em: 14 de fevereiro de 2026\nVersão: 1.0\n\nSoftware afetado:\nFarol Cliente para Windows 10 e Windows 11\n",
            "Farol Cliente para Windows 10 e Windows 11",
        ),
        (
            "en",
            "Published: 2026-02-14\nVersion: 1.0\n\nAffected versions: 2.0 to 2.2\n",
            "2.0 to 2.2",
        ),
    ];
    for (name, text, want) in cases {
        assert_eq!(versions(text).as_deref(), Some(*want), "case {name}");
    }
    // Alone, "Version:" still names the affected version.
    assert_eq!(versions("Version: 2.3\n").as_deref(), Some("2.3"));
}

/// Platforms after a "all supported editions of" phrase are the affected list; no range.
#[test]
fn platforms_in_a_sentence() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "fr",
            "Cette mise à jour est évaluée critique pour toutes les éditions prises\nen charge de Windows 10 et Windows 11. Pour plus d'informations, lisez la suite.\n",
            "toutes les éditions prises\nen charge de Windows 10 et Windows 11",
        ),
        (
            "nl",
            "De client op alle ondersteunde Windows-versies (Windows 10 en 11) is kwetsbaar; de macOS-client niet.\n",
            "alle ondersteunde Windows-versies (Windows 10 en 11)",
        ),
        (
            "en",
            "The update is rated critical for all supported editions of Windows Server 2019 and 2022 today.\n",
            "all supported editions of Windows Server 2019 and 2022",
        ),
    ];
    for (name, text, want) in cases {
        let fields = extract(Some("x"), text);
        assert_eq!(
            fields.affected_versions.as_deref(),
            Some(*want),
            "case {name}"
        );
        assert!(fields.affected.is_empty(), "case {name}: {fields:#?}");
    }
    // A phrase without a platform and its number is no list.
    assert_eq!(
        versions("It is critical for all supported editions of the product.\n"),
        None
    );
}

/// "de la 7 hasta la 11": whole-number releases, in a sentence about versions only.
#[test]
fn whole_number_releases() {
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "es",
            "Las versiones de Mirador afectadas van de la 7 hasta la 11, ambas incluidas.\n",
            "de la 7 hasta la 11, ambas incluidas",
            &["introduced=7 last_affected=11"],
        ),
        (
            "de",
            "Betroffen sind die Versionen von 7 bis 11 des Browsers.\n",
            "von 7 bis 11",
            &["introduced=7 last_affected=11"],
        ),
    ];
    for (name, text, want, ranges) in cases {
        let fields = extract(Some("x"), text);
        assert_eq!(
            fields.affected_versions.as_deref(),
            Some(*want),
            "case {name}"
        );
        assert_eq!(ranges_of(&fields), *ranges, "case {name}: {fields:#?}");
    }
    // Without a word for versions in the sentence, numbers are counts.
    assert_eq!(versions("Es tarda de 7 hasta 11 segundos.\n"), None);
    assert_eq!(versions("Das dauert von 7 bis 11 Sekunden.\n"), None);
}

/// "nas versões 8.8.15 e 9.0": a list after the word "versions", the word kept.
#[test]
fn versions_listed_after_the_word() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "pt",
            "Foi publicada uma vulnerabilidade no software Colmeia nas versões 8.8.15 e 9.0.\n",
            "versões 8.8.15 e 9.0",
        ),
        (
            "it",
            "Ho riprodotto il problema nelle versioni 3.2.1 e 3.4.0 del server.\n",
            "versioni 3.2.1 e 3.4.0",
        ),
    ];
    for (name, text, want) in cases {
        let fields = extract(Some("x"), text);
        assert_eq!(
            fields.affected_versions.as_deref(),
            Some(*want),
            "case {name}"
        );
        assert_eq!(fields.affected.len(), 2, "case {name}: {fields:#?}");
    }
}

/// "15.1.2507" is a build number, not a date; a phrase wrapped over two lines and joined
/// by "en"/"and" keeps all its ranges.
#[test]
fn build_numbers_and_wrapped_phrases() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "nl",
            "Zeilboot heeft kwetsbaarheden verholpen in Zeilboot Mailserver, versies 15.1.0 tot\nen met 15.1.2507 en 15.2.0 tot en met 15.2.1544.\n",
            &[
                "introduced=15.1.0 last_affected=15.1.2507",
                "introduced=15.2.0 last_affected=15.2.1544",
            ],
        ),
        (
            "en",
            "The flaw is in builds 16.0.1 through\n16.0.2507 and 17.0.1 through 17.0.2801.\n",
            &[
                "introduced=16.0.1 last_affected=16.0.2507",
                "introduced=17.0.1 last_affected=17.0.2801",
            ],
        ),
    ];
    check_ranges(cases);
}

/// A sentence saying its versions are not affected names no affected version; the
/// version of the product named elsewhere is the one read.
#[test]
fn versions_stated_as_not_affected_are_skipped() {
    let cases: &[(&str, &str, Option<&str>)] = &[
        (
            "ko",
            "영향을 받는 패키지 및 버전\n패키지 이름      패키지 버전\nHanul.Gateway    8.2R12.1\n\n8.2R12.0 이하 버전은 영향을 받지 않습니다. 패키지 버전 8.2R12.2로 업데이트하는 것이 좋습니다.\n",
            Some("8.2R12.1"),
        ),
        (
            "en",
            "The crash shows in Hanul.Gateway 3.1.4 on every node.\n\nVersions 3.0 and earlier are not affected.\n",
            Some("3.1.4"),
        ),
        ("de", "Versionen bis 2.9 sind nicht betroffen.\n", None),
    ];
    for (name, text, want) in cases {
        assert_eq!(versions(text).as_deref(), *want, "case {name}");
    }
    // The same phrase without the negation is the affected list.
    assert_eq!(
        versions("Versions 3.0 and earlier are affected.\n").as_deref(),
        Some("Versions 3.0 and earlier")
    );
}

/// Each case's text (under a Subject of no meaning) gives exactly its ranges, in order.
fn check_ranges(cases: &[(&str, &str, &[&str])]) {
    for (name, text, ranges) in cases {
        let fields = extract(Some("x"), text);
        assert_eq!(ranges_of(&fields), *ranges, "case {name}: {fields:#?}");
    }
}

/// Each case's text gives exactly its fixed versions, in order.
fn check_fixed(cases: &[(&str, &str, &[&str])]) {
    for (name, text, fixed) in cases {
        let fields = extract(Some("x"), text);
        assert_eq!(fields.fixed_versions, *fixed, "case {name}: {fields:#?}");
    }
}
