//! The security policy as a page: what `disclosured policy` prints (Markdown, for a
//! SECURITY.md) and what `publish` writes (Markdown and HTML): how to send a report,
//! the key, what to include, the clocks, scope, severity bands, fix targets,
//! supported versions, safe harbour and the hall of fame.

use super::credits::Credit;
use super::markup::{Block, Inline, Page};
use crate::config::Settings;

/// A policy's clock as a person says it: "7 days", "12 hours", else humantime's form.
pub(crate) fn human_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match secs {
        0 => "0 seconds".to_string(),
        s if s % 86_400 == 0 => plural(s / 86_400, "day"),
        s if s % 3_600 == 0 => plural(s / 3_600, "hour"),
        _ => humantime::format_duration(d).to_string(),
    }
}

fn text(s: impl Into<String>) -> Inline {
    Inline::Text(s.into())
}

fn heading(text: &str, id: &'static str) -> Block {
    Block::Heading {
        text: text.into(),
        id,
    }
}

/// The page. `credits`: the hall of fame, `None` where the store is not read
/// (`disclosured policy`).
pub(crate) fn policy_page(
    settings: &Settings,
    fingerprint: Option<&str>,
    credits: Option<&[Credit]>,
) -> Page {
    let mut b = Vec::new();
    reporting(settings, fingerprint, &mut b);
    what_to_include(settings, &mut b);
    what_happens_next(settings, &mut b);
    scope(settings, &mut b);
    severity(settings, &mut b);
    safe_harbour(settings, &mut b);
    if let Some(credits) = credits {
        hall_of_fame(credits, &mut b);
    }
    Page {
        title: format!("Security policy of {}", settings.gateway.name),
        blocks: b,
    }
}

fn reporting(settings: &Settings, fingerprint: Option<&str>, b: &mut Vec<Block>) {
    let address = &settings.gateway.address;
    b.push(Block::Para(vec![
        text("Report vulnerabilities by email to "),
        Inline::Strong(address.clone()),
        text(". Do not open public issues for them."),
    ]));
    b.push(heading("Encrypt and sign", "encrypt"));
    match fingerprint {
        Some(f) => {
            b.push(Block::Para(vec![
                text("Encrypt to our OpenPGP key "),
                Inline::Code(f.to_string()),
                text(" ("),
                Inline::Code(format!("gpg --locate-keys {address}")),
                text(", "),
                Inline::Link {
                    text: "the key published beside this page".into(),
                    url: format!(
                        "{}/{}",
                        settings.publish.base_url,
                        crate::config::publish::KEY_FILE
                    ),
                },
                text(
                    ", or ask for it: an unencrypted mail with the subject \"key\" gets it \
                     back), and sign with your own key inside the encryption (",
                ),
                Inline::Code("gpg --sign --encrypt".into()),
                text(
                    ", or your mail client's PGP/MIME). Attach your public key, or let your \
                     client send an Autocrypt header, so that our answers are encrypted to \
                     you.",
                ),
            ]));
        }
        None => b.push(Block::Para(vec![
            text("This gateway has no key yet ("),
            Inline::Code("disclosured keys generate".into()),
            text(")."),
        ])),
    }
}

fn what_to_include(settings: &Settings, b: &mut Vec<Block>) {
    let p = &settings.policy;
    b.push(heading("What to include", "include"));
    b.push(Block::List(
        p.required_fields
            .iter()
            .map(|f| vec![text(f.label())])
            .collect(),
    ));
}

fn what_happens_next(settings: &Settings, b: &mut Vec<Block>) {
    let p = &settings.policy;
    let human = human_duration;
    let prefix = &settings.gateway.report_id_prefix;
    b.push(heading("What happens next", "next"));
    b.push(Block::List(vec![
        vec![
            text("You get a signed acknowledgement with a report ID ("),
            Inline::Code(format!("{prefix}-YYYY-NNNN")),
            text(format!(
                ") within seconds, and in any case within {}.",
                human(p.acknowledge)
            )),
        ],
        vec![text(format!(
            "A maintainer assesses the report within {} of receipt.",
            human(p.initial_assessment)
        ))],
        vec![text(format!(
            "We aim to fix it within {} (critical), {} (high), {} (medium) or {} (low) of \
             receipt.",
            human(p.fix.critical),
            human(p.fix.high),
            human(p.fix.medium),
            human(p.fix.low)
        ))],
        vec![
            text("Keep the "),
            Inline::Code(format!("[{prefix}-…]")),
            text(" tag in the subject of follow-ups and sign them with the same key."),
        ],
        vec![
            text(
                "Advisories credit you only as you choose: reply to the acknowledgement, \
                 signed with the same key, with a line ",
            ),
            Inline::Code("Credit: Name <handle> <contact>".into()),
            text(" (handle and contact optional) or "),
            Inline::Code("Credit: none".into()),
            text(". Until you do, nobody is credited."),
        ],
    ]));
}

fn scope(settings: &Settings, b: &mut Vec<Block>) {
    let p = &settings.policy;
    let publish = &settings.publish;
    if publish.in_scope.is_empty() && p.out_of_scope.is_empty() && p.supported_versions.is_empty() {
        return;
    }
    b.push(heading("Scope", "scope"));
    if !publish.in_scope.is_empty() {
        b.push(Block::Para(vec![text("In scope:")]));
        b.push(Block::List(
            publish
                .in_scope
                .iter()
                .map(|s| vec![text(s.clone())])
                .collect(),
        ));
    }
    if !p.out_of_scope.is_empty() {
        b.push(Block::Para(vec![text("Out of scope:")]));
        b.push(Block::List(
            p.out_of_scope
                .iter()
                .map(|c| vec![text(c.name.replace('_', " "))])
                .collect(),
        ));
    }
    if !p.supported_versions.is_empty() {
        b.push(Block::Para(vec![text(
            "Supported versions (reports about other versions may be closed as out of scope):",
        )]));
        b.push(Block::Table {
            head: vec!["Version".into(), "Supported".into()],
            rows: p
                .supported_versions
                .iter()
                .map(|v| vec![v.clone(), "yes".into()])
                .collect(),
        });
    }
}

fn severity(settings: &Settings, b: &mut Vec<Block>) {
    let fix = &settings.policy.fix;
    b.push(heading("Severity and fix targets", "severity"));
    b.push(Block::Para(vec![text(
        "Severity comes from the CVSS score of the report's vector (the bands of the CVSS \
         specification), else from the severity you state, until a maintainer rates it. \
         The fix target counts from receipt.",
    )]));
    let rows = [
        ("Critical", "9.0 – 10.0", Some(fix.critical)),
        ("High", "7.0 – 8.9", Some(fix.high)),
        ("Medium", "4.0 – 6.9", Some(fix.medium)),
        ("Low", "0.1 – 3.9", Some(fix.low)),
        ("None", "0.0", None),
    ];
    b.push(Block::Table {
        head: vec!["Severity".into(), "CVSS score".into(), "Fix target".into()],
        rows: rows
            .iter()
            .map(|(name, band, target)| {
                vec![
                    (*name).to_string(),
                    (*band).to_string(),
                    target.map_or_else(|| "none".to_string(), human_duration),
                ]
            })
            .collect(),
    });
}

fn safe_harbour(settings: &Settings, b: &mut Vec<Block>) {
    let statement = settings
        .publish
        .safe_harbour
        .clone()
        .unwrap_or_else(|| settings.ack.footer.trim().to_string());
    if statement.is_empty() {
        return;
    }
    b.push(heading("Safe harbour", "safe-harbour"));
    b.push(Block::Para(vec![text(statement)]));
}

fn hall_of_fame(credits: &[Credit], b: &mut Vec<Block>) {
    b.push(heading("Hall of fame", "hall-of-fame"));
    if credits.is_empty() {
        b.push(Block::Para(vec![text(
            "Researchers who agree to be named are thanked here once their report is fixed.",
        )]));
        return;
    }
    b.push(Block::Para(vec![text(
        "We thank these researchers, who reported vulnerabilities that are now fixed:",
    )]));
    b.push(Block::List(
        credits
            .iter()
            .map(|c| vec![text(format!("{} ({})", c.name, c.since.format("%Y")))])
            .collect(),
    ));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::publish::markup;

    #[test]
    fn the_page_has_every_section_and_escapes_credit_names() {
        let s = crate::config::Settings::parse_toml(
            "[policy]\nsupported_versions = [\"5.x\"]\nout_of_scope = [\"self_xss\"]\n\
             [publish]\nin_scope = [\"the web application\"]\n",
        )
        .unwrap();
        let credits = [Credit {
            name: "<img src=x onerror=alert(1)>".into(),
            since: "2026-01-02T00:00:00Z".parse().unwrap(),
        }];
        let page = policy_page(&s, Some("FPR123"), Some(&credits));
        let md = markup::markdown(&page);
        for want in [
            "## Encrypt and sign",
            "`FPR123`",
            "## What happens next",
            "## Scope",
            "the web application",
            "self xss",
            "| 5.x | yes |",
            "## Severity and fix targets",
            "| Critical | 9.0 – 10.0 | 2 days |",
            "## Safe harbour",
            "## Hall of fame",
            "(2026)",
        ] {
            assert!(md.contains(want), "{want:?} missing from\n{md}");
        }
        let html = markup::html(&page, "en");
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{html}"
        );
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("id=\"hall-of-fame\""));
    }

    #[test]
    fn the_policy_states_the_configured_clocks() {
        let s = crate::config::Settings::parse_toml(
            "[policy]\ninitial_assessment = \"5d\"\n[policy.fix]\ncritical = \"3d\"\n",
        )
        .unwrap();
        let text = markup::markdown(&policy_page(&s, Some("ABCD"), None));
        assert!(text.contains("within 5 days"), "{text}");
        assert!(text.contains("3 days (critical)"), "{text}");
        assert!(text.contains("90 days (low)"), "{text}");
        assert!(text.contains("`ABCD`"), "{text}");
        assert!(text.contains(&s.gateway.address), "{text}");
    }
}
