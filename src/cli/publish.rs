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

/// `dir`, else `publish.dir`, made absolute.
fn target(settings: &Settings, dir: Option<&Path>) -> anyhow::Result<std::path::PathBuf> {
    let Some(dir) = dir.or(settings.publish.dir.as_deref()) else {
        anyhow::bail!("no directory: give one (`disclosured publish DIR`) or set publish.dir");
    };
    std::path::absolute(dir).with_context(|| format!("cannot resolve {}", dir.display()))
}

/// Writes the tree into `dir`, else `publish.dir`; says what was written.
pub(super) fn publish(p: &Pipeline, dir: Option<&Path>, out: &mut Out) -> anyhow::Result<u8> {
    let dir = target(&p.settings, dir)?;
    let tree = p.publish_to(&dir, Utc::now())?;
    describe(&p.settings, &dir, &tree, out)
}

/// `publish` on a host where the daemon has not run yet: there is no store, so no
/// report and nobody to thank; the rest of the tree is the same.
pub(super) fn publish_without_store(
    settings: &Settings,
    dir: Option<&Path>,
) -> anyhow::Result<std::process::ExitCode> {
    let dir = target(settings, dir)?;
    let ring = Keyring::load(&settings.keys)?;
    let tree = crate::publish::publish(settings, &ring, &[], &dir, Utc::now())?;
    let mut out = Out::default();
    describe(settings, &dir, &tree, &mut out)?;
    print!("{}", out.stdout);
    println!(
        "No store yet at {} (the daemon creates it at its first start): the hall of fame is empty.",
        settings.store.path.display()
    );
    Ok(std::process::ExitCode::SUCCESS)
}

/// What `publish` says it wrote.
fn describe(
    settings: &Settings,
    dir: &Path,
    tree: &crate::publish::Tree,
    out: &mut Out,
) -> anyhow::Result<u8> {
    writeln!(out.stdout, "Published into {}:", dir.display())?;
    for path in tree.files.keys() {
        writeln!(out.stdout, "  {}", path.display())?;
    }
    if let Some(expires) = tree.expires {
        writeln!(
            out.stdout,
            "security.txt expires {}; {}",
            expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            if settings.publish.dir.as_deref() == Some(dir) {
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
            settings.gateway.address
        )?,
        keys => {
            writeln!(
                out.stdout,
                "Web Key Directory: {} key(s) for {} ({})",
                keys.len(),
                settings.gateway.address,
                keys.join(", ")
            )?;
            if !tree.revoked.is_empty() {
                writeln!(
                    out.stdout,
                    "  published revoked as superseded by the signing key (they keep decrypting here): {}",
                    tree.revoked.join(", ")
                )?;
            }
        }
    }
    writeln!(
        out.stdout,
        "Serve the directory over https at {} (WKD's advanced layout also at openpgpkey.{}).",
        settings.publish.base_url,
        settings
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
