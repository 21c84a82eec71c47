//! The commands that work on the store (reports, digest, quarantine, outbox; status
//! and backup in [`super::ops`]). They
//! run in this process when no daemon is running, or inside the daemon through the
//! control socket when one is: either way they get a [`Pipeline`] and write their
//! output into an [`Out`], never straight to the terminal.

use std::fmt::Write as _;

use anyhow::{Context as _, anyhow, bail};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::args::{
    AdvisoryArgs, Command, DigestArgs, OutboxCommand, QuarantineCommand, ReportsCommand, SetArgs,
};
use crate::crypto::SignatureStatus;
use crate::daemon::control::{Request, Response};
use crate::extract::Severity;
use crate::outbox;
use crate::pipeline::{Pipeline, StatusAsk};
use crate::policy::human_time;
use crate::store::{
    Change, Correspondence, Detail, Direction, Event, IntakeKind, JobKind, JobState, NewJob,
    OutcomeRef, RejectReason, Report, ReportId, Status,
};

pub(crate) use super::Out;

/// Runs a store command; the exit code is 0, 1 (not found, refused) or 2 (bad use).
pub(crate) fn execute(p: &Pipeline, command: &Command, request: &Request) -> Response {
    execute_to(p, command, request, None)
}

/// As [`execute`], a listing's standard output handed to `sink` as it is written (the
/// control socket's frames, or the terminal); the [`Response`] holds what is left.
pub(crate) fn execute_to(
    p: &Pipeline,
    command: &Command,
    request: &Request,
    sink: Option<super::Sink>,
) -> Response {
    let json = command.prints_json();
    let mut out = match sink {
        // What the sink gets is made terminal-safe as the rest is, below.
        Some(mut sink) if !json => Out::streaming(Box::new(move |text| sink(terminal_safe(&text)))),
        Some(sink) => Out::streaming(sink),
        None => Out::default(),
    };
    let code = match run(p, command, request, &mut out) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(out.stderr, "disclosured: {e:#}");
            1
        }
    };
    // Report text reaches the terminal here: a forged report must not be able to
    // move the cursor or repaint what the maintainer reads ("Signature: good").
    let stdout = if json {
        out.stdout
    } else {
        terminal_safe(&out.stdout)
    };
    Response {
        stdout,
        stderr: terminal_safe(&out.stderr),
        code,
    }
}

/// Text made safe for a terminal: every control character a terminal acts on (C0
/// but tab and newline, DEL, C1, and so ESC and CSI) and the bidirectional overrides
/// that reorder what is shown become U+FFFD. JSON output is left exact: it escapes
/// C0 itself, and scripts need the stored bytes.
pub(crate) fn terminal_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            let control = (c.is_control() && c != '\n' && c != '\t')
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
            if control { '\u{FFFD}' } else { c }
        })
        .collect()
}

fn run(p: &Pipeline, command: &Command, req: &Request, out: &mut Out) -> anyhow::Result<u8> {
    let now = Utc::now();
    match command {
        Command::Reports(ReportsCommand::List {
            status,
            assignee,
            severity,
            overdue,
            json,
        }) => {
            let filter = ListFilter {
                status: status.as_deref(),
                assignee: assignee.as_deref(),
                severity: severity.as_deref(),
                overdue: *overdue,
            };
            reports_list(p, &filter, *json, now, out)
        }
        Command::Reports(ReportsCommand::Attachment { id, n, .. }) => {
            reports_attachment(p, id, *n, out)
        }
        Command::Reports(ReportsCommand::Show { id, json }) => reports_show(p, id, *json, now, out),
        Command::Reports(ReportsCommand::Set(args)) => reports_set(p, args, &req.actor, now, out),
        Command::Reports(ReportsCommand::Stats { since, json }) => {
            reports_stats(p, since.as_deref(), *json, now, out)
        }
        Command::Reports(ReportsCommand::Reply {
            id,
            subject,
            allow_plaintext,
            ..
        }) => {
            let reply = Reply {
                subject: subject.as_deref(),
                text: req.file.as_deref().unwrap_or_default(),
                allow_plaintext: *allow_plaintext,
            };
            reports_reply(p, id, &reply, &req.actor, now, out)
        }
        Command::Advisory(args) => advisory(p, args, out),
        Command::Reports(ReportsCommand::Purge { id, reason, yes }) => {
            reports_purge(p, id, reason, *yes, &req.actor, now, out)
        }
        Command::Digest(args) => digest(p, args, now, out),
        Command::Quarantine(QuarantineCommand::List { json }) => quarantine_list(p, *json, out),
        Command::Quarantine(QuarantineCommand::Retry { id, all }) => {
            super::quarantine::retry(p, *id, *all, &req.actor, now, out)
        }
        Command::Outbox(OutboxCommand::List { json, sent }) => outbox_list(p, *json, *sent, out),
        Command::Outbox(OutboxCommand::Retry { id, all }) => outbox_retry(p, *id, *all, now, out),
        Command::Status { json } => super::status::status(p, *json, out),
        Command::Backup { file, to } => {
            // A local run gets the path as typed; the daemon gets it absolute. The
            // keys of --to are in the request.
            let to = to.as_ref().and(req.file.as_deref());
            super::ops::backup(p, file, to, out)
        }
        Command::Publish { dir } => super::publish::publish(p, dir.as_deref(), out),
        _ => bail!("not a command on the store"),
    }
}

use super::views::{ReportSummary, ReportView, severity_name};

/// What `reports list` keeps, as given on the command line.
struct ListFilter<'a> {
    status: Option<&'a str>,
    assignee: Option<&'a str>,
    severity: Option<&'a str>,
    overdue: bool,
}

/// `--status`: one state, or `open` (every state a report is still worked on in).
fn status_filter(given: &str) -> anyhow::Result<Vec<Status>> {
    if given.trim().eq_ignore_ascii_case("open") {
        return Ok(Status::ALL
            .into_iter()
            .filter(|s| !matches!(s, Status::Rejected | Status::Disclosed))
            .collect());
    }
    let status = given
        .trim()
        .to_ascii_lowercase()
        .parse::<Status>()
        .map_err(|e| anyhow!("--status: {e} (or open)"))?;
    Ok(vec![status])
}

fn reports_list(
    p: &Pipeline,
    filter: &ListFilter<'_>,
    json: bool,
    now: DateTime<Utc>,
    out: &mut Out,
) -> anyhow::Result<u8> {
    let severity = match filter.severity.map(str::trim) {
        None => None,
        Some(s) if s.eq_ignore_ascii_case("unrated") => Some(None),
        Some(s) => Some(Some(
            s.parse::<Severity>()
                .map_err(|e| anyhow!("--severity: {e}"))?,
        )),
    };
    let states = filter.status.map(status_filter).transpose()?;
    // `none`: unassigned; a maintainer by name or address; an assignee recorded
    // before names were checked is matched as written.
    let assignee = filter.assignee.map(str::trim).map(|a| {
        if a.eq_ignore_ascii_case("none") {
            None
        } else {
            Some(
                crate::store::resolve_assignee(&p.settings.maintainers, a)
                    .unwrap_or_else(|_| a.to_string()),
            )
        }
    });
    let keep = |r: &Report| {
        states.as_ref().is_none_or(|s| s.contains(&r.status))
            && assignee
                .as_ref()
                .is_none_or(|a| match (a, &r.triage.assignee) {
                    (None, None) => true,
                    (Some(want), Some(has)) => want.eq_ignore_ascii_case(has),
                    _ => false,
                })
            && severity.is_none_or(|s| r.severity() == s)
    };
    // One head at a time (a store may hold a hundred thousand): each row is written as
    // it is read and handed on every [`super::SPILL_AT`] bytes, so memory holds one
    // chunk of heads and a piece of the output, never every head nor the listing.
    // A sink that fails (the client went away) ends the listing.
    let mut gone: Option<std::io::Error> = None;
    let stop = |e: std::io::Error, gone: &mut Option<std::io::Error>| {
        *gone = Some(e);
        crate::store::StoreError::Refused("the output was closed".into())
    };
    let listed = if json {
        use serde::ser::{SerializeSeq as _, Serializer as _};
        // serde_json writes a row into `row`; it is moved to the output after each.
        let row = std::cell::RefCell::new(Vec::new());
        let mut ser = serde_json::Serializer::pretty(Shared(&row));
        let mut seq = ser.serialize_seq(None)?;
        let mut failed = None;
        let listed = p.store.each_report_head(|r| {
            if failed.is_some() || !keep(&r) {
                return Ok(());
            }
            let s = ReportSummary::of(&r, now);
            if filter.overdue && s.overdue.is_empty() {
                return Ok(());
            }
            if let Err(e) = seq.serialize_element(&s) {
                failed = Some(anyhow::Error::from(e));
                return Ok(());
            }
            if let Err(e) = take_row(&row, &mut out.stdout) {
                failed = Some(e);
                return Ok(());
            }
            out.spill().map_err(|e| stop(e, &mut gone))
        });
        if let Some(e) = failed {
            return Err(e);
        }
        if listed.is_ok() {
            seq.end()?;
            take_row(&row, &mut out.stdout)?;
            out.stdout.push('\n');
        }
        listed
    } else {
        writeln!(
            out.stdout,
            "{:<16} {:<12} {:<9} {:<20} {:<30} {:<12} {:<24} TITLE",
            "ID", "STATUS", "SEVERITY", "RECEIVED", "NEXT DEADLINE", "ASSIGNEE", "FROM"
        )?;
        p.store.each_report_head(|r| {
            if !keep(&r) {
                return Ok(());
            }
            let s = ReportSummary::of(&r, now);
            if filter.overdue && s.overdue.is_empty() {
                return Ok(());
            }
            table_row(&r, &s, &mut out.stdout);
            out.spill().map_err(|e| stop(e, &mut gone))
        })
    };
    match (listed, gone) {
        (_, Some(e)) => Err(anyhow::Error::from(e).context("the listing was cut short")),
        (Err(e), None) => Err(e.into()),
        (Ok(()), None) => Ok(0),
    }
}

/// What serde_json writes a listing into: a buffer the listing empties after each row.
struct Shared<'a>(&'a std::cell::RefCell<Vec<u8>>);

impl std::io::Write for Shared<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Moves what serde_json wrote for a row to the output. Between rows every string it
/// wrote is closed, so the bytes are whole UTF-8.
fn take_row(row: &std::cell::RefCell<Vec<u8>>, stdout: &mut String) -> anyhow::Result<()> {
    let mut row = row.borrow_mut();
    stdout.push_str(std::str::from_utf8(&row)?);
    row.clear();
    Ok(())
}

/// One line of the `reports list` table.
fn table_row(r: &Report, s: &ReportSummary<'_>, table: &mut String) {
    let next = if !s.overdue.is_empty() {
        format!("OVERDUE {}", s.overdue.join(","))
    } else {
        s.next_deadline
            .as_ref()
            .map(|n| {
                let at = DateTime::parse_from_rfc3339(&n.at)
                    .map(|t| human_time(t.with_timezone(&Utc)))
                    .unwrap_or_default();
                format!("{} {at}", short_deadline(n.name))
            })
            .unwrap_or_else(|| "-".into())
    };
    // Writing to a String cannot fail.
    let _ = writeln!(
        table,
        "{:<16} {:<12} {:<9} {:<20} {:<30} {:<12} {:<24} {}",
        s.id,
        s.status,
        s.severity,
        human_time(r.data.received_at),
        crate::intake::one_line(&next, 30),
        crate::intake::one_line(s.assignee.unwrap_or("-"), 12),
        crate::intake::one_line(s.from, 24),
        crate::intake::one_line(s.title.unwrap_or("-"), 50)
    );
}

fn short_deadline(name: &str) -> &str {
    match name {
        "initial_assessment" => "assess",
        "acknowledge" => "ack",
        other => other,
    }
}

fn find_report(p: &Pipeline, id: &str) -> anyhow::Result<Report> {
    let Some(parsed) = ReportId::parse(id) else {
        bail!("no report {id}");
    };
    if let Some(found) = p.store.report(&parsed)? {
        return Ok(found);
    }
    match p.store.tombstone(&parsed)? {
        Some(t) => bail!(
            "report {} was purged on {} by {} ({}): its content is destroyed",
            t.id,
            t.at.format("%Y-%m-%d %H:%M UTC"),
            t.actor,
            t.reason
        ),
        None => bail!("no report {id}"),
    }
}

/// `reports purge ID --reason TEXT --yes`.
fn reports_purge(
    p: &Pipeline,
    id: &str,
    reason: &str,
    yes: bool,
    actor: &str,
    now: DateTime<Utc>,
    out: &mut Out,
) -> anyhow::Result<u8> {
    let report = find_report(p, id)?;
    if !yes {
        bail!(
            "purging {} destroys it for good (no backup made from now on holds it); run again with --yes",
            report.id
        );
    }
    if reason.trim().is_empty() {
        bail!("--reason: say why the report is purged");
    }
    let done = p
        .store
        .purge_report(&report.id, actor, reason.trim(), now)?;
    writeln!(
        out.stdout,
        "{} purged: its data key is destroyed; {} queued or sent message(s), {} attachment(s) and {} index entries removed. Backups made before now still hold it, sealed: destroy them, or they keep it until they are.",
        report.id, done.jobs, done.attachments, done.index_entries
    )?;
    Ok(0)
}

fn reports_show(
    p: &Pipeline,
    id: &str,
    json: bool,
    now: DateTime<Utc>,
    out: &mut Out,
) -> anyhow::Result<u8> {
    let r = find_report(p, id)?;
    let address_keys = p.store.address_keys(&r.data.from.address)?;
    if json {
        let view = ReportView::of(&r, address_keys, &p.settings.policy, now);
        writeln!(out.stdout, "{}", serde_json::to_string_pretty(&view)?)?;
    } else {
        out.stdout
            .push_str(&outbox::notify::report_text(&r, &p.settings.policy, now));
        out.stdout.push_str(&ranges_text(&r.data.fields));
        out.stdout.push_str(&details_text(&r));
        out.stdout.push_str(&timeline_text(&r));
        out.stdout.push_str(&format!(
            "\nCredit (the researcher's choice): {}\n",
            r.credit.as_ref().map_or_else(
                || "none chosen (advisories credit nobody)".to_string(),
                crate::store::CreditChoice::describe
            )
        ));
        out.stdout.push_str(&attachments_text(&r));
        out.stdout.push_str(&address_keys_text(&r, &address_keys));
    }
    Ok(0)
}

/// The affected versions as ranges and the fixed versions, as `reports show` prints them:
/// "from 2.7.0, fixed in 2.7.8 (2.7.x before 2.7.8)".
pub(crate) fn ranges_text(fields: &crate::extract::Fields) -> String {
    if fields.affected.is_empty() && fields.fixed_versions.is_empty() {
        return String::new();
    }
    let mut text = String::new();
    if !fields.affected.is_empty() {
        text.push_str("\nAffected ranges:\n");
        for range in &fields.affected {
            let mut parts = Vec::new();
            if let Some(v) = &range.introduced {
                parts.push(format!("from {v}"));
            }
            if let Some(v) = &range.fixed {
                parts.push(format!("fixed in {v}"));
            }
            if let Some(v) = &range.last_affected {
                parts.push(format!("up to and including {v}"));
            }
            let _ = writeln!(text, "  {} ({})", parts.join(", "), range.text);
        }
    }
    if !fields.fixed_versions.is_empty() {
        let _ = writeln!(text, "Fixed versions: {}", fields.fixed_versions.join(", "));
    }
    text
}

/// The details maintainers corrected or completed, as `reports show` prints them.
fn details_text(r: &Report) -> String {
    if r.triage.details.is_empty() {
        return String::new();
    }
    let mut text = String::from("\nSet by maintainers:\n");
    for (detail, value) in &r.triage.details {
        let _ = writeln!(text, "  {:<19} {value}", format!("{}:", detail.label()));
    }
    text
}

/// `reports stats`.
fn reports_stats(
    p: &Pipeline,
    since: Option<&str>,
    json: bool,
    now: DateTime<Utc>,
    out: &mut Out,
) -> anyhow::Result<u8> {
    let since = match since {
        None => None,
        Some(text) => Some(
            match chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
                Ok(day) => day.and_time(chrono::NaiveTime::MIN).and_utc(),
                Err(_) => {
                    crate::policy::ZonedInstant::parse(text)
                        .map_err(|e| anyhow!("--since: {e} (or a date, YYYY-MM-DD)"))?
                        .at
                }
            },
        ),
    };
    let mut stats = outbox::stats::StatsBuilder::new(&p.settings.policy, since, now);
    p.store.each_report(|r| {
        stats.add(&r);
        Ok(())
    })?;
    let stats = stats.finish();
    if json {
        writeln!(out.stdout, "{}", serde_json::to_string_pretty(&stats)?)?;
    } else {
        out.stdout.push_str(&stats.text());
    }
    Ok(0)
}

/// The dated timeline, as `reports show` prints it.
fn timeline_text(r: &Report) -> String {
    let mut text = String::from("\nTimeline:\n");
    for s in r.timeline().steps {
        let _ = writeln!(
            text,
            "  {}  {:<17}{}",
            human_time(s.at),
            s.what,
            s.note.map(|n| format!(" {n}")).unwrap_or_default()
        );
    }
    text
}

/// Every attachment of a report, numbered as `reports attachment` takes them: the
/// report's own, then its correspondence's, in order.
pub(crate) fn all_attachments(r: &Report) -> Vec<&crate::store::AttachmentMeta> {
    r.data
        .attachments
        .iter()
        .chain(r.correspondence.iter().flat_map(|c| c.attachments.iter()))
        .collect()
}

fn attachments_text(r: &Report) -> String {
    let all = all_attachments(r);
    if all.is_empty() {
        return String::new();
    }
    let mut text = format!(
        "\nAttachments (save one with: disclosured reports attachment {} N --out FILE):\n",
        r.id
    );
    for (i, a) in all.iter().enumerate() {
        let _ = writeln!(
            text,
            "  {:>2}  {} ({}, {} bytes)",
            i + 1,
            a.name.as_deref().unwrap_or("(unnamed)"),
            a.content_type,
            a.size
        );
    }
    text
}

/// `reports attachment`: the attachment's bytes, base64 on standard output; the
/// command line decodes them and writes the file itself (as the invoking user, who
/// may not be the daemon's), see `commands::save_attachment`.
fn reports_attachment(p: &Pipeline, id: &str, n: usize, out: &mut Out) -> anyhow::Result<u8> {
    use base64::Engine as _;
    let r = find_report(p, id)?;
    let all = all_attachments(&r);
    let Some(meta) = n.checked_sub(1).and_then(|i| all.get(i)) else {
        writeln!(
            out.stderr,
            "disclosured: {} has {} attachment(s); there is no number {n} (see reports show {})",
            r.id,
            all.len(),
            r.id
        )?;
        return Ok(1);
    };
    let Some(bytes) = p.store.attachment(&meta.sha256)? else {
        bail!(
            "attachment {n} of {} (sha256 {}) is not in the store",
            r.id,
            meta.sha256
        );
    };
    writeln!(
        out.stdout,
        "{}",
        base64::engine::general_purpose::STANDARD.encode(&bytes)
    )?;
    Ok(0)
}

/// What `reports show` says of the keys the sender's address has proved, when there
/// is something to say: more than one key is worth a maintainer's look.
fn address_keys_text(r: &Report, keys: &[crate::store::AddressKey]) -> String {
    if keys.len() < 2 {
        return String::new();
    }
    let mut text = format!(
        "\nWARNING: {} has proved {} different keys (a changed key, or a key someone else made for this address):\n",
        r.data.from.address,
        keys.len()
    );
    for k in keys {
        let mark = if Some(k.fingerprint.as_str()) == r.proven_key() {
            "  (this report)"
        } else {
            ""
        };
        let _ = writeln!(
            text,
            "  {}  first seen {}{mark}",
            k.fingerprint,
            k.first_seen
                .map_or_else(|| "before this was recorded".to_string(), human_time)
        );
    }
    text
}

fn reports_set(
    p: &Pipeline,
    args: &SetArgs,
    actor: &str,
    now: DateTime<Utc>,
    out: &mut Out,
) -> anyhow::Result<u8> {
    let duplicate_of = match &args.duplicate_of {
        Some(dup) => Some(find_report(p, dup).context("--duplicate-of")?.id),
        None => None,
    };
    let reason = match (&args.reason, duplicate_of) {
        (Some(name), dup) => Some(RejectReason::parse(name, dup).map_err(|e| anyhow!(e))?),
        (None, Some(_)) => bail!("--duplicate-of goes with --reason duplicate"),
        (None, None) => None,
    };
    let cvss = match &args.cvss {
        Some(v) => Some(
            crate::extract::find_cvss(v.trim())
                .ok_or_else(|| anyhow!("{v:?} is not a valid CVSS 2, 3.x or 4.0 vector"))?,
        ),
        None => None,
    };
    let mut details = std::collections::BTreeMap::new();
    for (detail, value) in [
        (Detail::Title, &args.title),
        (Detail::AffectedVersions, &args.affected_versions),
        (Detail::AffectedComponent, &args.component),
        (Detail::VulnerabilityType, &args.vuln_type),
        (Detail::Cwe, &args.cwe),
        (Detail::Cve, &args.cve),
        (Detail::FixedIn, &args.fixed_in),
        (Detail::Summary, &args.summary),
        (Detail::Ecosystem, &args.ecosystem),
        (Detail::Package, &args.package),
        (Detail::Purl, &args.purl),
        (Detail::Vendor, &args.vendor),
        (Detail::Product, &args.product),
        (Detail::References, &args.references),
        (Detail::Remediation, &args.remediation),
        (Detail::Published, &args.published),
        (Detail::Affected, &args.affected),
    ] {
        if let Some(value) = value {
            details.insert(detail, detail.check(value).map_err(|e| anyhow!(e))?);
        }
    }
    let assignee = match &args.assignee {
        Some(a) => Some(
            crate::store::resolve_assignee(&p.settings.maintainers, a)
                .map_err(|e| anyhow!("--assignee: {e}"))?,
        ),
        None => None,
    };
    let embargo = match (&args.embargo, &args.embargo_revise, &args.embargo_exit) {
        (Some(v), _, _) => {
            Some(crate::store::EmbargoChange::parse_set(v).map_err(|e| anyhow!("--embargo: {e}"))?)
        }
        (_, Some(v), _) => Some(crate::store::EmbargoChange::Revise(
            crate::policy::ZonedInstant::parse(v).map_err(|e| anyhow!("--embargo-revise: {e}"))?,
        )),
        (_, _, Some(v)) => Some(crate::store::EmbargoChange::Exit(
            v.parse()
                .map_err(|e: String| anyhow!("--embargo-exit: {e}"))?,
        )),
        _ => None,
    };
    let question = match &args.needs_info {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--needs-info {}", path.display()))?;
            if text.trim().is_empty() {
                bail!("--needs-info {}: the question is empty", path.display());
            }
            Some(text)
        }
        None => None,
    };
    let change = Change {
        embargo,
        needs_info: match (&question, args.resume_clocks) {
            (Some(_), _) => Some(true),
            (None, true) => Some(false),
            (None, false) => None,
        },
        details,
        status: args.status,
        reason,
        severity: match &args.severity {
            Some(s) => Some(s.parse::<Severity>().map_err(|e| anyhow!(e))?),
            None => None,
        },
        cvss,
        assignee,
        note: args.note.clone(),
    };
    let explanation = match &args.message {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--message {}", path.display()))?;
            if text.trim().is_empty() {
                bail!("--message {}: the file is empty", path.display());
            }
            Some(text)
        }
        None => None,
    };
    let policy = &p.settings.policy;
    let Some(id) = ReportId::parse(&args.id) else {
        bail!("no report {}", args.id);
    };
    // The researcher hears of the states in `notify.reporter_on`, whoever moved it.
    let status_id = outbox::new_message_id(&p.settings, "status");
    let embargo_id = outbox::new_message_id(&p.settings, "embargo");
    let question_id = outbox::new_message_id(&p.settings, "question");
    let answer = p.answer_key_before(&id)?;
    let ask = StatusAsk {
        actor,
        quiet: args.no_notify.then_some("--no-notify"),
        explanation: explanation.as_deref(),
    };
    let report = match p.store.modify_report(&id, |r| {
        let before = r.status;
        let assigned_before = r.triage.assignee.clone();
        let events_before = r.events.len();
        r.apply(&change, actor, now, policy)?;
        // The embargo mail first: the status mail's event is the last one, which
        // the output below reads.
        let mut jobs: Vec<NewJob> = p
            .embargo_notice(r, events_before, &answer, &embargo_id, actor, now)
            .into_iter()
            .collect();
        // A question that cannot reach the researcher pauses nothing.
        if let Some(q) = &question {
            jobs.push(
                p.question_mail(r, &answer, &question_id, q, now)
                    .map_err(|why| format!("the question cannot go to the researcher: {why}"))?,
            );
        }
        if r.status != before {
            jobs.extend(p.status_notice(r, &answer, &status_id, &ask, now));
        }
        jobs.extend(crate::store::assignment_notice(
            &p.settings.maintainers,
            assigned_before.as_deref(),
            r,
            actor,
            now,
        ));
        Ok(jobs)
    }) {
        Ok(r) => r,
        Err(crate::store::StoreError::Refused(why)) => {
            writeln!(out.stderr, "disclosured: {why}")?;
            return Ok(1);
        }
        Err(crate::store::StoreError::NoSuchReport(id)) => bail!("no report {id}"),
        Err(e) => return Err(e.into()),
    };
    p.store.flush()?;
    writeln!(
        out.stdout,
        "{}: {}, severity {}{}",
        report.id,
        report.status.as_str(),
        severity_name(&report),
        report
            .data
            .deadlines
            .fix
            .map(|f| format!(", fix due {}", human_time(f)))
            .unwrap_or_default()
    )?;
    if question.is_some() {
        writeln!(
            out.stdout,
            "question sent to the researcher, Message-ID <{question_id}>; assessment and fix clocks paused until they answer"
        )?;
    } else if args.resume_clocks {
        writeln!(out.stdout, "clocks running again")?;
    }
    if let Some(e) = report.embargo.as_ref().filter(|_| change.embargo.is_some()) {
        writeln!(out.stdout, "embargo: {}", e.describe(now))?;
        let told = report.events.iter().rev().find(|e| {
            e.at == now
                && e.note
                    .as_deref()
                    .is_some_and(|n| n.starts_with("embargo mail"))
        });
        if let Some(e) = told {
            let note = e.note.as_deref().unwrap_or_default();
            if e.action == "researcher_told" {
                let mid = note.rsplit(' ').next().unwrap_or_default();
                writeln!(
                    out.stdout,
                    "researcher told of the embargo, Message-ID {mid}"
                )?;
            } else {
                let why = note.strip_prefix("embargo mail: ").unwrap_or(note);
                writeln!(out.stdout, "researcher not told of the embargo: {why}")?;
            }
        }
    }
    // What this change told the researcher: the event the transaction recorded.
    if args.status.is_some()
        && let Some(e) = report.events.iter().rev().find(|e| {
            e.at == now && matches!(e.action.as_str(), "researcher_told" | "researcher_not_told")
        })
    {
        let note = e.note.as_deref().unwrap_or_default();
        if e.action == "researcher_told" {
            let mid = note.rsplit(' ').next().unwrap_or_default();
            writeln!(out.stdout, "researcher told, Message-ID {mid}")?;
        } else {
            writeln!(out.stdout, "researcher not told: {note}")?;
        }
    } else if args.status.is_some() && explanation.is_some() {
        writeln!(
            out.stdout,
            "researcher not told: the state did not change, so --message was not sent"
        )?;
    }
    Ok(0)
}

/// `advisory`: the document on standard output (the command line saves it to --out).
fn advisory(p: &Pipeline, args: &AdvisoryArgs, out: &mut Out) -> anyhow::Result<u8> {
    if args.full && args.format != crate::advisory::Format::Cve {
        bail!("--full goes with --format cve");
    }
    if let Some(org) = &args.org_id
        && !crate::advisory::is_uuid(org)
    {
        bail!("--org-id {org:?} is not a version 4 UUID (as CVE organisation IDs are)");
    }
    let r = find_report(p, &args.id)?;
    let options = crate::advisory::Options {
        format: args.format,
        draft: args.draft,
        full: args.full,
        org_id: args.org_id.clone(),
    };
    match crate::advisory::write(&r, &p.settings, &options) {
        Ok(w) => {
            out.stdout.push_str(&w.json);
            writeln!(out.stderr, "file name: {}", w.file_name)?;
            Ok(0)
        }
        Err(e) => {
            writeln!(out.stderr, "disclosured: {e}")?;
            Ok(1)
        }
    }
}

/// A maintainer's message to a reporter, as `reports reply` was given it.
struct Reply<'a> {
    subject: Option<&'a str>,
    text: &'a str,
    allow_plaintext: bool,
}

fn reports_reply(
    p: &Pipeline,
    id: &str,
    reply: &Reply<'_>,
    actor: &str,
    now: DateTime<Utc>,
    out: &mut Out,
) -> anyhow::Result<u8> {
    const MAX_REPLY: usize = 1024 * 1024;
    let text = reply.text;
    if text.trim().is_empty() {
        bail!("the message is empty");
    }
    if text.len() > MAX_REPLY {
        bail!("the message is over {MAX_REPLY} bytes");
    }
    let report = find_report(p, id)?;
    let key = outbox::answer_cert(&p.store, &p.keyring, &report)?;
    if let Some(why) = outbox::answer_key_refusal(&p.store, &p.keyring, &report)? {
        // Never to that key, and not in clear either: whoever holds the key may
        // be reading the researcher's mail.
        writeln!(
            out.stderr,
            "disclosured: {} was answered encrypted to the key it proved, but {why}: no \
             answer is encrypted to it any more. Ask the researcher (in person, or in a \
             mail without details) for a signed follow-up with their new key.",
            report.id
        )?;
        return Ok(1);
    }
    if key.is_none() && report.data.encrypted && !reply.allow_plaintext {
        writeln!(
            out.stderr,
            "disclosured: {} came encrypted but did not prove a key that can receive \
             encrypted mail (it was not signed inside the encryption by a key we could \
             check), so the reply would go out in clear text to an address anyone can \
             claim. Ask the reporter to send a signed follow-up with their public key \
             attached{}, or pass --allow-plaintext.",
            report.id,
            report
                .data
                .unknown_signer
                .as_deref()
                .map(|k| format!(
                    " (the report was signed by {k}, which we did not have: that key proves it)"
                ))
                .unwrap_or_default()
        )?;
        return Ok(1);
    }
    let to = report.reporter_address().to_string();
    let message_id = outbox::new_message_id(&p.settings, "reply");
    let entry = reply_entry(p, &to, &message_id, reply, key.is_some(), actor, now);
    let job = NewJob {
        message_id: Some(message_id.clone()),
        ..NewJob::new(JobKind::Reply, &to, now)
    };
    let encrypted = key.is_some();
    p.store.modify_report(&report.id, |r| {
        r.correspondence.push(entry.clone());
        r.events.push(Event::new(
            now,
            actor,
            "reply",
            Some(format!(
                "to {to}, {}, Message-ID {message_id}",
                if encrypted {
                    "encrypted"
                } else {
                    "signed, not encrypted"
                }
            )),
        ));
        Ok(vec![job.clone()])
    })?;
    p.store.flush()?;
    writeln!(
        out.stdout,
        "{}: reply to {to} queued ({}), Message-ID <{message_id}>",
        report.id,
        if encrypted {
            "signed and encrypted"
        } else {
            "signed, not encrypted"
        }
    )?;
    Ok(0)
}

/// The outgoing correspondence entry a reply is rendered from.
fn reply_entry(
    p: &Pipeline,
    to: &str,
    message_id: &str,
    reply: &Reply<'_>,
    encrypted: bool,
    actor: &str,
    now: DateTime<Utc>,
) -> Correspondence {
    Correspondence {
        direction: Direction::Out,
        at: now,
        from: p.settings.gateway.address.clone(),
        to: to.to_string(),
        message_id: Some(message_id.to_string()),
        subject: reply
            .subject
            .map(|s| outbox::compose::sanitize_header_text(s, 200))
            .filter(|s| !s.is_empty()),
        body: reply.text.replace("\r\n", "\n"),
        encrypted,
        signature: SignatureStatus::Good,
        signer_fingerprint: p.keyring.signing_cert().map(|c| c.fingerprint().to_hex()),
        attachments: Vec::new(),
        actor: Some(actor.to_string()),
    }
}

fn digest(
    p: &Pipeline,
    args: &DigestArgs,
    now: DateTime<Utc>,
    out: &mut Out,
) -> anyhow::Result<u8> {
    if args.dry_run {
        let d = p.digest(now)?;
        writeln!(out.stdout, "Subject: {}\n", d.subject())?;
        out.stdout.push_str(&d.text());
        if d.is_empty() && !p.settings.digest.send_when_empty {
            writeln!(
                out.stderr,
                "(nothing needs attention: a scheduled digest would be skipped)"
            )?;
        }
        return Ok(0);
    }
    if p.team.is_empty() {
        bail!("no maintainers are configured ([[maintainers]] in the configuration)");
    }
    match p.send_digest(now, args.force)? {
        Some(d) => writeln!(
            out.stdout,
            "digest queued for {} maintainer(s): {}",
            p.team.members().len(),
            d.subject()
        )?,
        None => writeln!(
            out.stdout,
            "nothing needs attention: no digest sent (use --force to send it anyway)"
        )?,
    }
    Ok(0)
}

#[derive(Serialize)]
struct QuarantineRow<'a> {
    /// What `quarantine retry` takes.
    id: u64,
    kind: IntakeKind,
    reason: &'a str,
    file: Option<&'a str>,
    message_id: Option<&'a str>,
    from: Option<&'a str>,
    at: String,
    /// `at` as people read it (the listing); `--json` has RFC 3339.
    #[serde(skip)]
    when: DateTime<Utc>,
    /// After `quarantine retry`: when, by whom, and what the message became.
    retried: Option<super::quarantine::RetryState>,
}

fn quarantine_list(p: &Pipeline, json: bool, out: &mut Out) -> anyhow::Result<u8> {
    let records = p.store.intake_entries()?;
    let rows: Vec<QuarantineRow<'_>> = records
        .iter()
        .map(|(id, r)| {
            Ok(QuarantineRow {
                id: *id,
                retried: super::quarantine::state(p, *id, r)?,
                kind: r.kind,
                reason: &r.reason,
                file: r.file.as_deref(),
                message_id: r.message_id.as_deref(),
                from: r.from.as_deref(),
                at: r.at.to_rfc3339(),
                when: r.at,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    if json {
        writeln!(out.stdout, "{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(0);
    }
    for r in &rows {
        let kind = match r.kind {
            IntakeKind::Quarantined => "quarantined",
            // A maintainer's mail that was taken is an action on a report, not a
            // message left unanswered.
            IntakeKind::Skipped if crate::pipeline::is_taken_reason(r.reason) => "taken",
            IntakeKind::Skipped => "skipped",
        };
        writeln!(
            out.stdout,
            "{:>4}  {}  {:<11}  {}  {}{}",
            r.id,
            human_time(r.when),
            kind,
            r.file.or(r.message_id).unwrap_or("-"),
            r.reason,
            r.retried.as_ref().map_or(String::new(), |s| format!(
                "  [retried {}: {}]",
                s.at, s.now
            ))
        )?;
    }
    Ok(0)
}

#[derive(Serialize)]
struct OutboxRow<'a> {
    id: u64,
    kind: &'static str,
    report: Option<&'a str>,
    recipient: &'a str,
    state: &'static str,
    tries: u32,
    created_at: String,
    next_attempt: Option<String>,
    /// `next_attempt` as people read it (the listing).
    #[serde(skip)]
    next_human: Option<String>,
    last_error: Option<&'a str>,
    message_id: Option<&'a str>,
}

fn outbox_list(p: &Pipeline, json: bool, include_sent: bool, out: &mut Out) -> anyhow::Result<u8> {
    let jobs = if include_sent {
        p.store.jobs()?
    } else {
        p.store.open_jobs()?
    };
    let rows: Vec<OutboxRow<'_>> = jobs
        .iter()
        .map(|j| OutboxRow {
            id: j.id,
            kind: outbox::kind_name(&j.kind),
            report: match &j.outcome {
                Some(OutcomeRef::Report(id)) => Some(id.as_str()),
                _ => None,
            },
            recipient: &j.to,
            state: j.state.as_str(),
            tries: j.tries,
            created_at: j.created_at.to_rfc3339(),
            next_attempt: (j.state == JobState::Pending).then(|| j.next_attempt.to_rfc3339()),
            next_human: (j.state == JobState::Pending).then(|| human_time(j.next_attempt)),
            last_error: j.last_error.as_deref(),
            message_id: j.message_id.as_deref(),
        })
        .collect();
    if json {
        writeln!(out.stdout, "{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(0);
    }
    writeln!(
        out.stdout,
        "{:<20} {:<18} {:<16} {:<8} {:>5}  {:<26} RECIPIENT / LAST ERROR",
        "ID", "KIND", "REPORT", "STATE", "TRIES", "NEXT ATTEMPT"
    )?;
    for r in &rows {
        writeln!(
            out.stdout,
            "{:<20} {:<18} {:<16} {:<8} {:>5}  {:<26} {}{}",
            r.id,
            r.kind,
            r.report.unwrap_or("-"),
            r.state,
            r.tries,
            r.next_human.as_deref().unwrap_or("-"),
            r.recipient,
            r.last_error.map(|e| format!(" ({e})")).unwrap_or_default()
        )?;
    }
    Ok(0)
}

fn outbox_retry(
    p: &Pipeline,
    id: Option<u64>,
    all: bool,
    now: DateTime<Utc>,
    out: &mut Out,
) -> anyhow::Result<u8> {
    let ids: Vec<u64> = match id {
        Some(id) => vec![id],
        None => p.store.open_jobs()?.into_iter().map(|j| j.id).collect(),
    };
    let mut changed = 0;
    for id in &ids {
        if p.store.retry_job(*id, now)? {
            changed += 1;
        } else if !all {
            writeln!(
                out.stderr,
                "disclosured: no pending or failed message {id} in the outbox"
            )?;
            return Ok(1);
        }
    }
    writeln!(
        out.stdout,
        "{changed} message(s) will be retried at the next delivery round"
    )?;
    Ok(0)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod tests {
    use super::*;
    use crate::store::{Commit, OutcomeRef, Status};
    use sequoia_openpgp::serialize::Serialize;

    /// A pipeline on a new store in `dir`.
    fn pipeline(dir: &std::path::Path) -> Pipeline {
        let root = dir.display().to_string();
        let config = dir.join("disclosured.toml");
        std::fs::write(
            &config,
            format!(
                "[gateway]\naddress = \"security@example.org\"\n\
                 [inbox]\nkind = \"maildir\"\npath = \"{root}/inbox\"\n\
                 [outbox]\nkind = \"file\"\npath = \"{root}/outbox\"\n\
                 [store]\npath = \"{root}/state\"\n[keys]\ndir = \"{root}/keys\"\n"
            ),
        )
        .unwrap();
        let settings =
            crate::config::Settings::load_with_env(Some(&config), Vec::<(String, String)>::new())
                .unwrap();
        Pipeline::start(settings).unwrap().0
    }

    fn command(argv: &[&str]) -> Command {
        let argv = std::iter::once("disclosured").chain(argv.iter().copied());
        <super::super::args::Cli as clap::Parser>::try_parse_from(argv)
            .unwrap()
            .command
    }

    /// Issue 29 item 5: with a sink, a listing is handed on in pieces as it is
    /// written (none much over [`super::super::SPILL_AT`]), which together are the
    /// listing as it is without one; nothing gathers it whole. A sink that fails (the
    /// client went away) ends the listing with an error.
    #[test]
    fn a_listing_goes_to_its_sink_in_pieces_and_stops_when_the_sink_fails() {
        let dir = tempfile::tempdir().unwrap();
        let p = pipeline(dir.path());
        for i in 0..1000 {
            let mut report = crate::store::tests::new_report(
                Some(&format!("<r{i}@example.net>")),
                &format!("{i:064x}"),
            );
            // A control character in the title: the table makes it terminal-safe
            // in the pieces too.
            report.fields.title = Some(format!("Report {i} \u{1b}[2J with a title"));
            p.store.commit_report("VR", report, Vec::new()).unwrap();
        }
        let request = Request {
            argv: Vec::new(),
            actor: "cli:test".into(),
            file: None,
            peer_uid: None,
            frames: true,
        };
        for argv in [&["reports", "list", "--json"][..], &["reports", "list"]] {
            let command = command(argv);
            let whole = execute(&p, &command, &request);
            assert_eq!(whole.code, 0, "{}", whole.stderr);
            let pieces = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
            let into = std::sync::Arc::clone(&pieces);
            let sink: super::super::Sink = Box::new(move |text| {
                into.lock().unwrap().push(text);
                Ok(())
            });
            let rest = execute_to(&p, &command, &request, Some(sink));
            assert_eq!(rest.code, 0, "{}", rest.stderr);
            let pieces = pieces.lock().unwrap();
            assert!(pieces.len() >= 2, "{argv:?}: {} pieces", pieces.len());
            for piece in pieces.iter() {
                assert!(
                    piece.len() < super::super::SPILL_AT + 4096,
                    "{argv:?}: a piece of {} bytes",
                    piece.len()
                );
            }
            assert!(rest.stdout.len() < super::super::SPILL_AT + 4096);
            let streamed = pieces.concat() + &rest.stdout;
            assert_eq!(streamed, whole.stdout, "{argv:?}");
            assert!(!streamed.contains('\u{1b}'), "{argv:?}");

            // The client went away after the first piece.
            let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let counted = std::sync::Arc::clone(&calls);
            let gone: super::super::Sink = Box::new(move |_| {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "gone"))
            });
            let cut = execute_to(&p, &command, &request, Some(gone));
            assert_eq!(cut.code, 1, "{argv:?}");
            assert!(cut.stderr.contains("cut short"), "{}", cut.stderr);
            assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        }
    }

    /// Issue 21: a report whose researcher's key the gateway learnt from mail (not
    /// preloaded) moved to a state the researcher is told of. The notice looked the key
    /// up in the store from inside the store's transaction and waited for ever; now the
    /// key is looked up first, the command returns, and the notice is encrypted.
    #[test]
    fn a_state_change_is_told_to_a_researcher_whose_key_was_learnt_from_mail() {
        let dir = tempfile::tempdir().unwrap();
        let p = pipeline(dir.path());

        // The researcher's key, kept as the intake keeps an attached key.
        let (cert, _) =
            sequoia_openpgp::cert::CertBuilder::general_purpose(Some("Researcher <r@example.net>"))
                .generate()
                .unwrap();
        let fpr = cert.fingerprint().to_hex();
        let mut bytes = Vec::new();
        cert.serialize(&mut bytes).unwrap();
        p.store.learn_key(&fpr, &[], &bytes).unwrap();
        assert!(
            p.keyring.reporters().is_empty(),
            "the key must not be preloaded"
        );

        let mut report = crate::store::tests::new_report(Some("r1@example.net"), "h1");
        report.encrypted = true;
        report.signature = crate::crypto::SignatureStatus::Good;
        report.signature_covers_all = true;
        report.signer_fingerprint = Some(fpr.clone());
        report.proven_key = Some(fpr.clone());
        report.reporter_key = Some(fpr.clone());
        let Commit::Stored(OutcomeRef::Report(id)) =
            p.store.commit_report("VR", report, Vec::new()).unwrap()
        else {
            panic!("the report was not stored");
        };

        let id_text = id.to_string();
        let set = move |status| SetArgs {
            id: id_text.clone(),
            status: Some(status),
            message: None,
            no_notify: false,
            reason: None,
            duplicate_of: None,
            severity: None,
            cvss: None,
            assignee: None,
            note: None,
            title: None,
            affected_versions: None,
            component: None,
            vuln_type: None,
            cwe: None,
            cve: None,
            fixed_in: None,
            embargo: None,
            embargo_revise: None,
            embargo_exit: None,
            needs_info: None,
            resume_clocks: false,
            summary: None,
            ecosystem: None,
            package: None,
            purl: None,
            vendor: None,
            product: None,
            references: None,
            remediation: None,
            published: None,
            affected: None,
        };
        // A hang is a failure with a message, not a stuck test run.
        let (done, result) = std::sync::mpsc::channel();
        let worker = {
            let p = std::sync::Arc::new(p);
            let q = p.clone();
            std::thread::spawn(move || {
                let mut out = Out::default();
                let mut code = Ok(0);
                for status in [Status::Triaged, Status::Accepted] {
                    code = reports_set(&q, &set(status), "cli:test", Utc::now(), &mut out)
                        .map_err(|e| e.to_string());
                }
                let _ = done.send((code, out));
            });
            p
        };
        let (code, out) = result
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect(
                "reports set --status did not return within 30 s (hung, or panicked: see above)",
            );
        assert_eq!(code, Ok(0), "{}", out.stderr);
        let report = worker.store.report(&id).unwrap().unwrap();
        assert_eq!(report.status, Status::Accepted);
        let notice = report
            .correspondence
            .iter()
            .find(|c| c.body.contains("is now: accepted"))
            .expect("the researcher is told");
        assert!(
            notice.encrypted,
            "the notice goes encrypted to the learnt key"
        );
        assert!(
            worker
                .store
                .jobs()
                .unwrap()
                .iter()
                .any(|j| j.to == "r@example.net"),
            "the notice is queued"
        );
    }
}
