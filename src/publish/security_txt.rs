//! security.txt (RFC 9116): the fields, written from the configuration and the
//! signing key, and the one field read back from a published file (`Expires:`),
//! which decides when it is written again.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::config::{PublishSettings, publish::KEY_FILE};

/// The unsigned text: one field a line, LF line ends, the last line too (section
/// 4). `Expires:` is `now + expires` in UTC, to the second.
pub(crate) fn text(
    p: &PublishSettings,
    address: &str,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> String {
    let expires =
        now + chrono::TimeDelta::from_std(p.expires).unwrap_or(chrono::TimeDelta::days(180));
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# Written by disclosured, which signs it again before it expires."
    );
    let _ = writeln!(t, "Contact: mailto:{address}");
    for c in &p.contact {
        let _ = writeln!(t, "Contact: {c}");
    }
    let _ = writeln!(
        t,
        "Expires: {}",
        expires.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    let _ = writeln!(t, "Encryption: {}/{KEY_FILE}", p.base_url);
    let _ = writeln!(t, "Encryption: openpgp4fpr:{fingerprint}");
    if !p.languages.is_empty() {
        let _ = writeln!(t, "Preferred-Languages: {}", p.languages.join(", "));
    }
    let _ = writeln!(t, "Policy: {}", p.policy_url);
    let _ = writeln!(t, "Acknowledgments: {}", p.acknowledgments_url);
    for c in &p.canonical {
        let _ = writeln!(t, "Canonical: {c}");
    }
    if let Some(csaf) = &p.csaf {
        let _ = writeln!(t, "CSAF: {csaf}");
    }
    t
}

/// The `Expires:` of a security.txt (signed or not): field names are
/// case-insensitive (section 2.4). `None` when there is none or it does not parse.
pub(crate) fn expires(text: &str) -> Option<DateTime<Utc>> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if !name.trim().eq_ignore_ascii_case("expires") {
            return None;
        }
        DateTime::parse_from_rfc3339(value.trim())
            .ok()
            .map(|d| d.with_timezone(&Utc))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::Settings;

    #[test]
    fn fields_in_order_and_expires_reads_back() {
        let s = Settings::parse_toml(
            "[gateway]\naddress = \"security@example.org\"\n[publish]\n\
             contact = [\"https://example.org/contact\"]\nexpires = \"90d\"\n\
             csaf = \"https://example.org/.well-known/csaf/provider-metadata.json\"\n",
        )
        .unwrap();
        let now: DateTime<Utc> = "2026-12-07T10:00:00Z".parse().unwrap();
        let t = text(&s.publish, "security@example.org", "ABCD", now);
        let names: Vec<&str> = t
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once(':').map(|(n, _)| n))
            .collect();
        assert_eq!(
            names,
            [
                "Contact",
                "Contact",
                "Expires",
                "Encryption",
                "Encryption",
                "Preferred-Languages",
                "Policy",
                "Acknowledgments",
                "Canonical",
                "CSAF"
            ]
        );
        assert!(t.contains("Contact: mailto:security@example.org\n"));
        assert!(t.contains("Expires: 2027-03-07T10:00:00Z\n"));
        assert!(t.contains("Encryption: https://example.org/security-key.asc\n"));
        assert!(t.contains("Encryption: openpgp4fpr:ABCD\n"));
        assert_eq!(expires(&t), Some("2027-03-07T10:00:00Z".parse().unwrap()));
        assert_eq!(expires("Contact: mailto:a@b\n"), None);
    }
}
