//! `disclosured publish [DIR]` and what `doctor` says of the published tree.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use chrono::Utc;

use super::Out;
use crate::config::Settings;
use crate::crypto::Keyring;
use crate::pipeline::Pipeline;

/// `doctor` warns when the published security.txt expires within this.
const DOCTOR_WINDOW: chrono::TimeDelta = chrono::TimeDelta::days(14);

/// Writes the tree into `dir`, else `publish.dir`; says what was written.
pub(super) fn publish(p: &Pipeline, dir: Option<&Path>, out: &mut Out) -> anyhow::Result<u8> {
    let Some(dir) = dir.or(p.settings.publish.dir.as_deref()) else {
        anyhow::bail!("no directory: give one (`disclosured publish DIR`) or set publish.dir");
    };
    let dir =
        std::path::absolute(dir).with_context(|| format!("cannot resolve {}", dir.display()))?;
    let tree = p.publish_to(&dir, Utc::now())?;
    writeln!(out.stdout, "Published into {}:", dir.display())?;
    for path in tree.files.keys() {
        writeln!(out.stdout, "  {}", path.display())?;
    }
    if let Some(expires) = tree.expires {
        writeln!(
            out.stdout,
            "security.txt expires {}; {}",
            expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            if p.settings.publish.dir.as_deref() == Some(dir.as_path()) {
                "the daemon writes it again before then (publish.renew_before)".to_string()
            } else {
                "run `disclosured publish` again before then, or set publish.dir so that the daemon does".to_string()
            }
        )?;
    }
    match tree.wkd_keys.as_slice() {
        [] => writeln!(
            out.stdout,
            "No gateway key has a user ID for {}: nothing in the Web Key Directory.",
            p.settings.gateway.address
        )?,
        keys => writeln!(
            out.stdout,
            "Web Key Directory: {} key(s) for {} ({})",
            keys.len(),
            p.settings.gateway.address,
            keys.join(", ")
        )?,
    }
    writeln!(
        out.stdout,
        "Serve the directory over https at {} (WKD's advanced layout also at openpgpkey.{}).",
        p.settings.publish.base_url,
        p.settings
            .gateway
            .address
            .rsplit_once('@')
            .map_or("", |(_, d)| d)
    )?;
    Ok(0)
}

/// `doctor`'s look at `publish.dir`: `None` when it is not set; else whether the
/// security.txt there is fine, what was found and what to do.
pub(super) fn doctor_check(
    settings: &Settings,
    ring: Option<&Keyring>,
) -> Option<(bool, String, Option<String>)> {
    let dir = settings.publish.dir.as_deref()?;
    let ring = ring?;
    let fix = "run `disclosured publish` (a running daemon renews it at its next check)";
    Some(
        match crate::publish::check(dir, ring, Utc::now(), DOCTOR_WINDOW) {
            Ok(expires) => (
                true,
                format!(
                    "{}/.well-known/security.txt is signed by the signing key and expires {}",
                    dir.display(),
                    expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
                None,
            ),
            Err(stale) => (
                false,
                format!("{}/.well-known/security.txt: {stale}", dir.display()),
                Some(fix.to_string()),
            ),
        },
    )
}
