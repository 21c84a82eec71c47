//! `[publish]`: the static tree `disclosured publish` writes and the daemon keeps
//! current: security.txt (RFC 9116), the Web Key Directory, the public key and the
//! policy page. Every URL in security.txt except `mailto:` and `tel:` contacts must be
//! https (RFC 9116 section 2.5), so the checks are made here, once, at load.

use std::path::PathBuf;
use std::time::Duration;

use super::raw::RawPublish;
use super::validate::{Base, duration};

/// The longest `Expires` RFC 9116 recommends (section 2.5.5: less than a year).
pub(crate) const MAX_EXPIRES: Duration = Duration::from_secs(365 * 86_400);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishSettings {
    /// The tree the daemon keeps current; `None`: only `disclosured publish DIR`
    /// writes one.
    pub dir: Option<PathBuf>,
    /// Where the tree is served, `https://host[/path]` without a trailing slash: the
    /// base of the key, policy and canonical URLs.
    pub base_url: String,
    /// More `Contact:` URIs after the gateway's `mailto:`, in order of preference.
    pub contact: Vec<String>,
    /// How far ahead `Expires:` is set when the file is written.
    pub expires: Duration,
    /// The file is written again this long before it expires.
    pub renew_before: Duration,
    /// `Preferred-Languages:` (RFC 5646 tags); empty: no such field.
    pub languages: Vec<String>,
    pub policy_url: String,
    pub acknowledgments_url: String,
    /// `Canonical:` URIs: where this very file is served.
    pub canonical: Vec<String>,
    /// `CSAF:` (the provider-metadata.json of a CSAF tree), only when one is published.
    pub csaf: Option<String>,
    /// What the policy covers, one line each, for the policy page.
    pub in_scope: Vec<String>,
    /// The safe-harbour statement of the policy page.
    pub safe_harbour: Option<String>,
}

/// Names of the files of the tree beside `.well-known/`, for URLs and for writing.
pub(crate) const KEY_FILE: &str = "security-key.asc";
pub(crate) const POLICY_MD: &str = "security-policy.md";
pub(crate) const POLICY_HTML: &str = "security-policy.html";

fn https_url(key: &str, value: &str, problems: &mut Vec<String>) -> String {
    let v = value.trim().trim_end_matches('/').to_string();
    let host = v.strip_prefix("https://").unwrap_or_default();
    if host.is_empty()
        || host.starts_with('/')
        || v.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        problems.push(format!("{key}: {value:?} is not an https:// URL"));
    }
    v
}

fn contact_uri(value: &str, problems: &mut Vec<String>) -> String {
    let v = value.trim().to_string();
    let ok = ["mailto:", "tel:", "https://"]
        .iter()
        .any(|s| v.len() > s.len() && v.starts_with(s))
        && !v.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        problems.push(format!(
            "publish.contact: {value:?} must be a mailto:, tel: or https:// URI"
        ));
    }
    v
}

fn language_tag(tag: &str, problems: &mut Vec<String>) -> String {
    let t = tag.trim().to_string();
    let ok = !t.is_empty()
        && t.split('-').all(|sub| {
            !sub.is_empty() && sub.len() <= 8 && sub.chars().all(|c| c.is_ascii_alphanumeric())
        });
    if !ok {
        problems.push(format!(
            "publish.languages: {tag:?} is not a language tag like \"en\" or \"de-CH\""
        ));
    }
    t
}

pub(super) fn validate(
    raw: &RawPublish,
    address: &str,
    base: &Base,
    problems: &mut Vec<String>,
) -> PublishSettings {
    let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or(address);
    let base_url = match &raw.base_url {
        Some(u) => https_url("publish.base_url", u, problems),
        None => format!("https://{}", domain.to_ascii_lowercase()),
    };
    let expires = duration("publish.expires", &raw.expires)
        .map_err(|e| problems.push(e))
        .unwrap_or(Duration::from_secs(180 * 86_400));
    if expires > MAX_EXPIRES {
        problems.push(format!(
            "publish.expires: {:?} is more than a year (RFC 9116 asks for less)",
            raw.expires
        ));
    }
    let renew_before = duration("publish.renew_before", &raw.renew_before)
        .map_err(|e| problems.push(e))
        .unwrap_or(Duration::from_secs(30 * 86_400));
    if renew_before >= expires {
        problems.push("publish.renew_before: must be shorter than publish.expires".into());
    }
    let csaf = raw
        .csaf
        .as_deref()
        .filter(|c| !c.trim().is_empty())
        .map(|c| {
            let url = https_url("publish.csaf", c, problems);
            if !url.ends_with("/provider-metadata.json") {
                problems.push(format!(
                "publish.csaf: {c:?} must name a provider-metadata.json (CSAF 2.0 section 7.1.8)"
            ));
            }
            url
        });
    let optional_url = |key: &str, v: &Option<String>, default: String, p: &mut Vec<String>| match v
    {
        Some(u) if !u.trim().is_empty() => https_url(key, u, p),
        _ => default,
    };
    let policy_url = optional_url(
        "publish.policy_url",
        &raw.policy_url,
        format!("{base_url}/{POLICY_HTML}"),
        problems,
    );
    let acknowledgments_url = optional_url(
        "publish.acknowledgments_url",
        &raw.acknowledgments_url,
        format!("{base_url}/{POLICY_HTML}#hall-of-fame"),
        problems,
    );
    let canonical = match &raw.canonical {
        Some(list) => list
            .iter()
            .map(|u| https_url("publish.canonical", u, problems))
            .collect(),
        None => vec![format!("{base_url}/.well-known/security.txt")],
    };
    PublishSettings {
        dir: raw.dir.as_deref().map(|d| base.abs(d)),
        base_url,
        contact: raw
            .contact
            .iter()
            .map(|c| contact_uri(c, problems))
            .collect(),
        expires,
        renew_before,
        languages: raw
            .languages
            .iter()
            .map(|l| language_tag(l, problems))
            .collect(),
        policy_url,
        acknowledgments_url,
        canonical,
        csaf,
        in_scope: raw
            .in_scope
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        safe_harbour: raw
            .safe_harbour
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use crate::config::{ConfigError, Settings};

    fn problems(toml: &str) -> Vec<String> {
        match Settings::parse_toml(toml) {
            Err(ConfigError::Invalid(p)) => p,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn defaults_follow_the_gateway_address() {
        let s = Settings::parse_toml("[gateway]\naddress = \"security@Example.org\"").unwrap();
        let p = &s.publish;
        assert_eq!(p.base_url, "https://example.org");
        assert_eq!(p.policy_url, "https://example.org/security-policy.html");
        assert_eq!(
            p.canonical,
            ["https://example.org/.well-known/security.txt"]
        );
        assert_eq!(p.expires.as_secs(), 180 * 86_400);
        assert_eq!(p.renew_before.as_secs(), 30 * 86_400);
        assert!(p.dir.is_none() && p.csaf.is_none());
    }

    #[test]
    fn bad_values_are_named() {
        let p = problems(
            "[publish]\nbase_url = \"http://example.org\"\nexpires = \"400d\"\n\
             contact = [\"security@example.org\"]\nlanguages = [\"en_US\"]\n\
             csaf = \"https://example.org/csaf.json\"\nrenew_before = \"500d\"\n",
        );
        for key in [
            "publish.base_url",
            "publish.expires",
            "publish.contact",
            "publish.languages",
            "publish.csaf",
            "publish.renew_before",
        ] {
            assert!(p.iter().any(|l| l.starts_with(key)), "{key} not in {p:?}");
        }
    }
}
