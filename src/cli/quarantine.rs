//! `quarantine retry ID|--all` (issue 18): a quarantined message goes back to the
//! inbox once its cause is fixed, and the inbox loop reads it again through the one
//! intake path (decide, store, flush, move). The store marks the record retried and
//! drops its dedupe entry first (flushed), then the message moves: a crash between
//! the two leaves a retried record whose message is still in quarantine, and the next
//! retry of it moves it. Retrying twice changes nothing.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Out;
use crate::config::Inbox;
use crate::pipeline::Pipeline;
use crate::policy::human_time;
use crate::store::{IntakeKind, IntakeRecord, OutcomeRef, Release, StoreError};

/// A retried record in `quarantine list`.
#[derive(Debug, Serialize)]
pub(super) struct RetryState {
    pub at: String,
    pub by: String,
    /// What the message is now: a report, quarantined again, or waiting in the inbox.
    pub now: String,
}

/// The retry state of intake record `seq`, if it was retried.
pub(super) fn state(
    p: &Pipeline,
    seq: u64,
    record: &IntakeRecord,
) -> anyhow::Result<Option<RetryState>> {
    let Some(mark) = p.store.retried(seq)? else {
        return Ok(None);
    };
    let sha = mark
        .content_sha256
        .as_deref()
        .unwrap_or(&record.content_sha256);
    let now = match p.store.outcome_of(sha)? {
        Some(OutcomeRef::Report(id)) => format!("report {id}"),
        Some(OutcomeRef::Intake(n)) if n != seq => format!("quarantined again as {n}"),
        _ => "in the inbox, not read yet".to_string(),
    };
    Ok(Some(RetryState {
        at: mark.at.to_rfc3339(),
        by: mark.by,
        now,
    }))
}

pub(super) fn retry(
    p: &Pipeline,
    id: Option<u64>,
    all: bool,
    actor: &str,
    now: DateTime<Utc>,
    out: &mut Out,
) -> anyhow::Result<u8> {
    let targets: Vec<u64> = match id {
        Some(id) => vec![id],
        None => {
            let mut t = Vec::new();
            for (seq, r) in p.store.intake_entries()? {
                if r.kind == IntakeKind::Quarantined && p.store.retried(seq)?.is_none() {
                    t.push(seq);
                }
            }
            t
        }
    };
    let mut failed = false;
    for seq in targets {
        match retry_one(p, seq, actor, now) {
            Ok(line) => writeln!(out.stdout, "{seq}: {line}")?,
            Err(e) => {
                failed = true;
                writeln!(out.stderr, "disclosured: {seq}: {e:#}")?;
            }
        }
    }
    if !all || id.is_some() || !failed {
        writeln!(
            out.stdout,
            "A message back in the inbox is read at the daemon's next pass (without a daemon: `disclosured run-once`); `quarantine list` shows what it became."
        )?;
    }
    Ok(if failed { 1 } else { 0 })
}

fn retry_one(p: &Pipeline, seq: u64, actor: &str, now: DateTime<Utc>) -> anyhow::Result<String> {
    let record = p
        .store
        .intake_record(seq)?
        .with_context(|| format!("no quarantined message {seq}"))?;
    // Where the message is, checked before anything changes, when it can be.
    let maildir_file = match (&p.settings.inbox, record.file.as_deref()) {
        (Inbox::Maildir { .. }, Some(f)) if !f.starts_with("imap:") => Some(Path::new(f)),
        _ => None,
    };
    if let Some(f) = maildir_file
        && !f.exists()
        && p.store.retried(seq)?.is_none()
    {
        bail!(
            "its message is no longer at {}: nothing changed",
            f.display()
        );
    }
    // A message quarantined unread has no content hash in its record: its file's
    // is kept with the retry, to find what it becomes.
    let hash = match maildir_file {
        Some(f) if record.content_sha256.starts_with("unread:") && f.exists() => {
            Some(file_sha256(f)?)
        }
        _ => None,
    };
    let (record, before) = match p
        .store
        .release_quarantined(seq, actor, now, hash.as_deref())
    {
        Ok(Release::Released(r)) => (r, None),
        Ok(Release::Already(r, mark)) => (r, Some(mark)),
        Err(StoreError::Refused(why)) => bail!("{why}"),
        Err(e) => return Err(e.into()),
    };
    // Durable before the message moves.
    p.store.flush()?;
    let moved = match put_back(p, &record)? {
        Some(sha) => {
            // Quarantined unread: only now is its content known (a crash before this
            // only leaves `quarantine list` unable to say what it became).
            if record.content_sha256.starts_with("unread:") {
                p.store.note_retried_content(seq, &sha)?;
                p.store.flush()?;
            }
            true
        }
        None => false,
    };
    Ok(match (before, moved) {
        (None, true) => format!("back in the inbox (it was: {})", record.reason),
        (Some(mark), true) => format!(
            "back in the inbox (retried at {} by {}; the move had not happened)",
            human_time(mark.at),
            mark.by
        ),
        (Some(mark), false) => format!(
            "already retried at {} by {}: nothing to do",
            human_time(mark.at),
            mark.by
        ),
        (None, false) => {
            "marked for retry, but its message was not found in the quarantine folder".into()
        }
    })
}

/// Moves the record's message from quarantine back into the inbox and returns its
/// content hash; `None` when it is not in quarantine (moved back before).
fn put_back(p: &Pipeline, record: &IntakeRecord) -> anyhow::Result<Option<String>> {
    match &p.settings.inbox {
        Inbox::Maildir { path, .. } => {
            let Some(file) = record.file.as_deref().map(Path::new) else {
                return Ok(None);
            };
            if !file.exists() {
                return Ok(None);
            }
            let sha = file_sha256(file)?;
            let name = file
                .file_name()
                .context("a quarantined file without a name")?;
            let dest = path.join("new").join(name);
            std::fs::rename(file, &dest)
                .with_context(|| format!("cannot move {} to {}", file.display(), dest.display()))?;
            std::fs::File::open(path.join("new"))
                .and_then(|d| d.sync_all())
                .with_context(|| path.join("new").display().to_string())?;
            Ok(Some(sha))
        }
        Inbox::Imap(imap) => {
            let from = record
                .file
                .as_deref()
                .and_then(|f| f.strip_prefix("imap:"))
                .unwrap_or(&imap.quarantine_folder)
                .to_string();
            use crate::source::imap::Which;
            let which = if record.content_sha256.starts_with("unread:") {
                match unread_size(&record.reason) {
                    Some(size) => Which::Size(size),
                    None => bail!("quarantined unread, and its size is not in its record"),
                }
            } else {
                Which::Sha256(record.content_sha256.clone())
            };
            let inbox = crate::source::imap::ImapInbox::new(imap.clone())?;
            let to = imap.folder.clone();
            let server = format!("{}:{}", imap.host, imap.port);
            let work = async move {
                // A server that takes the connection and stops answering must not
                // hold the command (or, in the daemon, one of its threads) for ever.
                match tokio::time::timeout(RETRY_IMAP_TIMEOUT, async move {
                    let mut mailbox = inbox.connect().await?;
                    let moved = mailbox.put_back(&from, &to, &which).await;
                    mailbox.logout().await;
                    moved
                })
                .await
                {
                    Ok(moved) => moved.map_err(anyhow::Error::from),
                    Err(_) => Err(anyhow::anyhow!(
                        "the IMAP server {server} did not answer within {}s; the message may or may not have been moved back: look in the IMAP folders before you run quarantine retry again",
                        RETRY_IMAP_TIMEOUT.as_secs()
                    )),
                }
            };
            // In the daemon this runs on one of its blocking threads.
            let moved = match tokio::runtime::Handle::try_current() {
                Ok(handle) => handle.block_on(work),
                Err(_) => super::runtime()?.block_on(work),
            };
            Ok(moved?)
        }
    }
}

/// How long `quarantine retry` waits for the IMAP server to move a message back.
const RETRY_IMAP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

fn file_sha256(path: &Path) -> anyhow::Result<String> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    let mut f = std::fs::File::open(path).with_context(|| path.display().to_string())?;
    std::io::copy(&mut f, &mut hasher).with_context(|| path.display().to_string())?;
    Ok(hex::encode(hasher.finalize()))
}

/// The size of a message quarantined unread, from its reason (written by
/// [`crate::config::LimitExceeded`]: "... (message bytes N)").
fn unread_size(reason: &str) -> Option<u64> {
    let (_, rest) = reason.rsplit_once("(message bytes ")?;
    rest.strip_suffix(')')?.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn the_size_of_a_message_quarantined_unread_is_read_from_its_reason() {
        let reason = crate::config::LimitExceeded {
            key: crate::config::Limit::MaxMessageBytes,
            limit: 200,
            what: "message bytes",
            actual: 556,
        }
        .to_string();
        assert_eq!(super::unread_size(&reason), Some(556));
        assert_eq!(super::unread_size("not OpenPGP"), None);
    }
}
