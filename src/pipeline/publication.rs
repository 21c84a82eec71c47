//! The published tree (`[publish]`, see `crate::publish`) as the daemon keeps it: the
//! credits read from the store, the tree written at start and again before its
//! security.txt falls due. A failure is logged and tried again at the next check; it
//! never stops the daemon.

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::{Pipeline, PipelineError};
use crate::publish::{self, Tree};

impl Pipeline {
    /// Writes the whole tree into `dir`, signed by the current signing key.
    pub(crate) fn publish_to(
        &self,
        dir: &std::path::Path,
        now: DateTime<Utc>,
    ) -> Result<Tree, PipelineError> {
        let credits = publish::credits::credited_researchers(&self.store)?;
        Ok(publish::publish(
            &self.settings,
            &self.keyring,
            &credits,
            dir,
            now,
        )?)
    }

    /// When `publish.dir` is set: writes the tree if `force`, or if its security.txt
    /// is missing, signed by another key than the current signing key, or expires
    /// within `publish.renew_before` of `now`.
    pub(crate) fn keep_published(&self, now: DateTime<Utc>, force: bool) {
        let Some(dir) = self.settings.publish.dir.as_deref() else {
            return;
        };
        let window = crate::policy::chrono_duration(self.settings.publish.renew_before);
        let why = match publish::check(dir, &self.keyring, now, window) {
            _ if force => "start".to_string(),
            Ok(_) => return,
            Err(stale) => stale.to_string(),
        };
        match self.publish_to(dir, now) {
            Ok(tree) => info!(
                dir = %dir.display(),
                why = %why,
                expires = ?tree.expires.map(|e| e.to_rfc3339()),
                wkd_keys = tree.wkd_keys.len(),
                "published security.txt, WKD and policy page"
            ),
            Err(e) => warn!(
                dir = %dir.display(),
                error = %e,
                "cannot write the published tree; trying again at the next check"
            ),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A pipeline over a temporary directory with `publish.dir` set.
    fn pipeline(root: &std::path::Path) -> Pipeline {
        let r = root.display();
        let settings = crate::config::Settings::parse_toml(&format!(
            "[gateway]\naddress = \"security@example.org\"\n\
             [inbox]\npath = \"{r}/inbox\"\n[outbox]\npath = \"{r}/outbox\"\n\
             [store]\npath = \"{r}/state\"\n[keys]\ndir = \"{r}/keys\"\n\
             [publish]\ndir = \"{r}/www\"\nexpires = \"180d\"\nrenew_before = \"30d\"\n"
        ))
        .unwrap();
        Pipeline::start(settings).unwrap().0
    }

    fn expires(root: &std::path::Path) -> String {
        let text = std::fs::read_to_string(root.join("www/.well-known/security.txt")).unwrap();
        text.lines()
            .find(|l| l.starts_with("Expires: "))
            .unwrap()
            .to_string()
    }

    /// The scheduled check on an injected clock: nothing is written while the file is
    /// good, and it is signed again with a new Expires once within renew_before.
    #[test]
    fn scheduled_checks_renew_security_txt_before_it_expires() {
        let tmp = tempfile::tempdir().unwrap();
        let p = pipeline(tmp.path());
        let t0: DateTime<Utc> = "2026-12-07T12:00:00Z".parse().unwrap();
        p.scheduled(t0).unwrap();
        assert_eq!(expires(tmp.path()), "Expires: 2027-06-05T12:00:00Z");
        // 149 days on: 31 days left, more than renew_before: left alone.
        p.scheduled(t0 + chrono::TimeDelta::days(149)).unwrap();
        assert_eq!(expires(tmp.path()), "Expires: 2027-06-05T12:00:00Z");
        // 151 days on: 29 days left: written again, 180 days from then.
        p.scheduled(t0 + chrono::TimeDelta::days(151)).unwrap();
        assert_eq!(expires(tmp.path()), "Expires: 2027-11-03T12:00:00Z");
        // A tampered file is written again at the next check.
        let path = tmp.path().join("www/.well-known/security.txt");
        let tampered = std::fs::read_to_string(&path).unwrap().replace(
            "Contact: mailto:security@example.org",
            "Contact: mailto:evil@example.net",
        );
        std::fs::write(&path, tampered).unwrap();
        p.scheduled(t0 + chrono::TimeDelta::days(152)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("Contact: mailto:security@example.org"),
            "{text}"
        );
        assert_eq!(expires(tmp.path()), "Expires: 2027-11-04T12:00:00Z");
    }
}
