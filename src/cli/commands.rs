//! What each command does.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, bail};
use serde::Serialize;

use super::args::{Cli, Command, KeysCommand, OutboxCommand, QuarantineCommand, ReportsCommand};
use crate::config::Settings;
use crate::crypto::{Keyring, SignatureStatus};
use crate::daemon;
use crate::pipeline::Pipeline;
use crate::store::{IntakeKind, Report, Store};

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let daemon_like = matches!(cli.command, Command::Serve | Command::RunOnce);
    super::logging::init(if daemon_like { "info" } else { "warn" });
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve => {
            runtime()?.block_on(daemon::serve(settings))?;
        }
        Command::RunOnce => run_once(settings)?,
        Command::Reports(ReportsCommand::List { json }) => reports_list(&settings, json)?,
        Command::Reports(ReportsCommand::Show { id, json }) => {
            return reports_show(&settings, &id, json);
        }
        Command::Quarantine(QuarantineCommand::List { json }) => quarantine_list(&settings, json)?,
        Command::Outbox(OutboxCommand::List { json, sent }) => outbox_list(&settings, json, sent)?,
        Command::Outbox(OutboxCommand::Retry { id, all }) => {
            return outbox_retry(&settings, id, all);
        }
        Command::Keys(KeysCommand::Generate) => {
            let g = Keyring::generate(
                &settings.keys.dir,
                &settings.gateway.name,
                &settings.gateway.address,
            )?;
            daemon::announce_generated(&g);
        }
        Command::Keys(KeysCommand::Rotate) => keys_rotate(&settings)?,
        Command::Keys(KeysCommand::Import { file, sign }) => keys_import(&settings, &file, sign)?,
        Command::Keys(KeysCommand::Show) => keys_show(&settings)?,
        Command::Keys(KeysCommand::Export) => {
            let ring = Keyring::load_locked(&settings.keys)?;
            let key = ring
                .public_key_armored()
                .context("no gateway key yet: run `disclosured keys generate`")?;
            print!("{}", String::from_utf8_lossy(&key));
        }
        Command::CheckConfig => check_config(&settings)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn run_once(settings: Settings) -> anyhow::Result<()> {
    let (pipeline, generated) = Pipeline::start(settings)?;
    if let Some(g) = &generated {
        daemon::announce_generated(g);
    }
    let pipeline = std::sync::Arc::new(pipeline);
    let started = std::time::Instant::now();
    let pass = match &pipeline.settings.inbox {
        crate::config::Inbox::Maildir { .. } => {
            let maildir = pipeline
                .open_maildir()?
                .context("maildir inbox not configured")?;
            pipeline.maildir_pass(&maildir, &AtomicBool::new(false))?
        }
        crate::config::Inbox::Imap(imap) => {
            let inbox = crate::source::imap::ImapInbox::new(imap.clone())?;
            runtime()?.block_on(daemon::imap::pass_once(
                std::sync::Arc::clone(&pipeline),
                &inbox,
            ))?
        }
    };
    let intake_ms = started.elapsed().as_millis();
    let delivered = pipeline.deliver()?;
    let deliver_ms = started.elapsed().as_millis() - intake_ms;
    log_pass(&pass, &delivered);
    tracing::info!(intake_ms, deliver_ms, "pass timing");
    pipeline.store.flush()?;
    Ok(())
}

fn log_pass(pass: &crate::pipeline::Pass, delivered: &crate::outbox::Delivered) {
    tracing::info!(
        reports = pass.reports,
        duplicates = pass.duplicates,
        skipped = pass.skipped,
        quarantined = pass.quarantined,
        deferred = pass.deferred,
        sent = delivered.sent,
        send_deferred = delivered.deferred,
        send_failed = delivered.failed,
        peak_rss_kib = peak_rss_kib(),
        cpu_ms = cpu_ms(),
        "pass complete"
    );
}

/// CPU time used by the whole process so far (user + system, all threads), from
/// /proc/self/stat, whose clock ticks are USER_HZ: 100 on Linux.
fn cpu_ms() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0;
    };
    // The command name may contain spaces; fields are counted after its ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15, i.e. 11 and 12 after the name.
    (ticks(11) + ticks(12)) * 10
}

/// The process's peak resident memory (VmHWM), for the record of a pass.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    Store::open(&settings.store.path).with_context(
        || "is `disclosured serve` running? The store can be opened by one process at a time",
    )
}

/// One row of `reports list --json`: the fields scripts rely on.
#[derive(Serialize)]
struct ReportSummary<'a> {
    id: &'a str,
    status: &'static str,
    received_at: String,
    from: &'a str,
    title: Option<&'a str>,
    encrypted: bool,
    signature: SignatureStatus,
    signature_covers_all: bool,
    signer_fingerprint: Option<&'a str>,
    signer_matches_from: bool,
    severity: Option<&'static str>,
    cvss_vector: Option<&'a str>,
    cvss_score: Option<f64>,
    affected_versions: Option<&'a str>,
    message_id: Option<&'a str>,
    missing_fields: Vec<&'static str>,
    attachments: usize,
}

impl<'a> ReportSummary<'a> {
    fn of(r: &'a Report) -> Self {
        let d = &r.data;
        ReportSummary {
            id: r.id.as_str(),
            status: r.status.as_str(),
            received_at: d.received_at.to_rfc3339(),
            from: &d.from.address,
            title: d.fields.title.as_deref(),
            encrypted: d.encrypted,
            signature: d.signature,
            signature_covers_all: d.signature_covers_all,
            signer_fingerprint: d.signer_fingerprint.as_deref(),
            signer_matches_from: d.signer_matches_from,
            severity: d.fields.severity().map(|s| s.as_str()),
            cvss_vector: d.fields.cvss.as_ref().map(|c| c.vector.as_str()),
            cvss_score: d.fields.cvss.as_ref().map(|c| c.score),
            affected_versions: d.fields.affected_versions.as_deref(),
            message_id: d.message_id.as_deref(),
            missing_fields: d.missing.iter().map(|f| f.as_str()).collect(),
            attachments: d.attachments.len(),
        }
    }
}

fn reports_list(settings: &Settings, json: bool) -> anyhow::Result<()> {
    let store = open_store(settings)?;
    let reports = store.reports()?;
    if json {
        let rows: Vec<ReportSummary<'_>> = reports.iter().map(ReportSummary::of).collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<16} {:<13} {:<17} {:<11} {:<9} {:<28} TITLE",
        "ID", "STATUS", "RECEIVED", "SIGNATURE", "SEVERITY", "FROM"
    );
    for r in &reports {
        let s = ReportSummary::of(r);
        println!(
            "{:<16} {:<13} {:<17} {:<11} {:<9} {:<28} {}",
            s.id,
            s.status,
            r.data.received_at.format("%Y-%m-%d %H:%M"),
            s.signature.as_str(),
            s.severity.unwrap_or("-"),
            truncate(s.from, 28),
            truncate(s.title.unwrap_or("-"), 60)
        );
    }
    Ok(())
}

fn reports_show(settings: &Settings, id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let store = open_store(settings)?;
    let Some(r) = store.report(id)? else {
        eprintln!("disclosured: no report {id}");
        return Ok(ExitCode::from(1));
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    let d = &r.data;
    println!("Report {}  ({})", r.id, r.status.as_str());
    println!("Received:     {}", d.received_at.to_rfc3339());
    match &d.from.name {
        Some(name) => println!("From:         {name} <{}>", d.from.address),
        None => println!("From:         {}", d.from.address),
    }
    println!("Message-ID:   {}", d.message_id.as_deref().unwrap_or("-"));
    println!("Encrypted:    {}", if d.encrypted { "yes" } else { "no" });
    println!(
        "Signature:    {}{}{}{}",
        d.signature.as_str(),
        d.signer_fingerprint
            .as_deref()
            .map(|f| format!(" ({f})"))
            .unwrap_or_default(),
        if d.signature == SignatureStatus::Good && !d.signature_covers_all {
            "; covers only part of the message"
        } else {
            ""
        },
        if d.signer_fingerprint.is_some() && !d.signer_matches_from {
            "; the key has no user ID for the sender's address"
        } else {
            ""
        }
    );
    println!(
        "Deadlines:    acknowledge by {}, initial assessment by {}",
        d.deadlines.acknowledge.to_rfc3339(),
        d.deadlines.initial_assessment.to_rfc3339()
    );
    println!();
    for f in crate::extract::FieldName::ALL {
        if let Some(v) = d.fields.get(f) {
            println!("{}:\n  {}", f.label(), v.replace('\n', "\n  "));
        }
    }
    if !d.missing.is_empty() {
        let names: Vec<_> = d.missing.iter().map(|f| f.label()).collect();
        println!("\nMissing: {}", names.join(", "));
    }
    for a in &d.attachments {
        println!(
            "Attachment:   {} ({}, {} bytes, sha256 {})",
            a.name.as_deref().unwrap_or("(unnamed)"),
            a.content_type,
            a.size,
            a.sha256
        );
    }
    println!("\nEvents:");
    for e in &r.events {
        println!(
            "  {}  {:<13} {}{}",
            e.at.to_rfc3339(),
            e.kind,
            e.actor,
            e.note
                .as_deref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct QuarantineRow<'a> {
    kind: IntakeKind,
    reason: &'a str,
    file: Option<&'a str>,
    message_id: Option<&'a str>,
    from: Option<&'a str>,
    at: String,
}

fn quarantine_list(settings: &Settings, json: bool) -> anyhow::Result<()> {
    let store = open_store(settings)?;
    let records = store.intake_records()?;
    let rows: Vec<QuarantineRow<'_>> = records
        .iter()
        .map(|r| QuarantineRow {
            kind: r.kind,
            reason: &r.reason,
            file: r.file.as_deref(),
            message_id: r.message_id.as_deref(),
            from: r.from.as_deref(),
            at: r.at.to_rfc3339(),
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    for r in &rows {
        let kind = match r.kind {
            IntakeKind::Quarantined => "quarantined",
            IntakeKind::Skipped => "skipped",
        };
        println!(
            "{}  {:<11}  {}  {}",
            r.at,
            kind,
            r.file.or(r.message_id).unwrap_or("-"),
            r.reason
        );
    }
    Ok(())
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
    last_error: Option<&'a str>,
    message_id: Option<&'a str>,
}

fn outbox_list(settings: &Settings, json: bool, include_sent: bool) -> anyhow::Result<()> {
    use crate::store::{JobKind, JobState, OutcomeRef};
    let store = open_store(settings)?;
    let jobs = store.jobs()?;
    let rows: Vec<OutboxRow<'_>> = jobs
        .iter()
        .filter(|j| include_sent || j.state != JobState::Sent)
        .map(|j| OutboxRow {
            id: j.id,
            kind: match j.kind {
                JobKind::Ack => "acknowledgement",
                JobKind::Unreadable { .. } => "unreadable_notice",
            },
            report: match &j.outcome {
                Some(OutcomeRef::Report(id)) => Some(id.as_str()),
                _ => None,
            },
            recipient: &j.to,
            state: j.state.as_str(),
            tries: j.tries,
            created_at: j.created_at.to_rfc3339(),
            next_attempt: (j.state == JobState::Pending).then(|| j.next_attempt.to_rfc3339()),
            last_error: j.last_error.as_deref(),
            message_id: j.message_id.as_deref(),
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<20} {:<18} {:<16} {:<8} {:>5}  {:<26} RECIPIENT / LAST ERROR",
        "ID", "KIND", "REPORT", "STATE", "TRIES", "NEXT ATTEMPT"
    );
    for r in &rows {
        println!(
            "{:<20} {:<18} {:<16} {:<8} {:>5}  {:<26} {}{}",
            r.id,
            r.kind,
            r.report.unwrap_or("-"),
            r.state,
            r.tries,
            r.next_attempt.as_deref().unwrap_or("-"),
            r.recipient,
            r.last_error.map(|e| format!(" ({e})")).unwrap_or_default()
        );
    }
    Ok(())
}

fn outbox_retry(settings: &Settings, id: Option<u64>, all: bool) -> anyhow::Result<ExitCode> {
    use crate::store::JobState;
    let store = open_store(settings)?;
    let now = chrono::Utc::now();
    let ids: Vec<u64> = match (id, all) {
        (Some(id), _) => vec![id],
        (None, _) => store
            .jobs()?
            .into_iter()
            .filter(|j| j.state != JobState::Sent)
            .map(|j| j.id)
            .collect(),
    };
    let mut changed = 0;
    for id in &ids {
        if store.retry_job(*id, now)? {
            changed += 1;
        } else if !all {
            eprintln!("disclosured: no pending or failed message {id} in the outbox");
            return Ok(ExitCode::from(1));
        }
    }
    println!("{changed} message(s) will be retried at the next delivery round");
    Ok(ExitCode::SUCCESS)
}

fn keys_rotate(settings: &Settings) -> anyhow::Result<()> {
    let r = Keyring::rotate(
        &settings.keys,
        &settings.gateway.name,
        &settings.gateway.address,
    )?;
    match &r.previous {
        Some(old) => println!("Old signing key: {old} (keeps decrypting)"),
        None => println!("Old signing key: none"),
    }
    println!("New signing key: {}", r.new.fingerprint);
    println!(
        "  secret key (mode 0600, keep it safe): {}",
        r.new.secret_path.display()
    );
    println!(
        "  public key to publish:                {}",
        r.new.public_path.display()
    );
    println!("A running daemon signs with the new key once restarted; publish the new public key.");
    Ok(())
}

fn keys_import(settings: &Settings, file: &std::path::Path, sign: bool) -> anyhow::Result<()> {
    use std::io::Read;
    let bytes = if file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("cannot read the key from standard input")?;
        buf
    } else {
        std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?
    };
    let shown = if file.as_os_str() == "-" {
        std::path::Path::new("(standard input)")
    } else {
        file
    };
    let i = Keyring::import(
        &settings.keys,
        shown,
        &bytes,
        &settings.gateway.address,
        sign,
    )?;
    println!(
        "Imported gateway key {}{}",
        i.fingerprint,
        if i.protected {
            " (passphrase-protected)"
        } else {
            ""
        }
    );
    println!("  secret key (mode 0600): {}", i.secret_path.display());
    println!("  public key:             {}", i.public_path.display());
    if i.signing.as_deref() == Some(i.fingerprint.as_str()) {
        println!("It signs and decrypts: publish its public key.");
    } else {
        println!("It decrypts.");
        match &i.signing {
            Some(f) => println!(
                "The signing key is still {f}{}",
                if i.can_sign {
                    " (import with --sign to make this one sign)"
                } else {
                    ""
                }
            ),
            None => println!(
                "It cannot sign and there is no signing key: run `disclosured keys rotate`."
            ),
        }
    }
    if i.protected && !i.passphrase_checked {
        println!(
            "The passphrase is a systemd credential, not readable here: the daemon tries it at start."
        );
    }
    if i.address_missing {
        println!(
            "Note: none of its user IDs is {}; reporters' software may not find it by address.",
            settings.gateway.address
        );
    }
    Ok(())
}

fn keys_show(settings: &Settings) -> anyhow::Result<()> {
    let ring = Keyring::load_locked(&settings.keys)?;
    let signing = ring.signing_cert().map(|c| c.fingerprint());
    if ring.is_empty() {
        println!(
            "No gateway key in {} (one is generated at first start, or run `disclosured keys generate`).",
            settings.keys.dir.display()
        );
    }
    for g in ring.gateway_keys() {
        let created: chrono::DateTime<chrono::Utc> =
            g.cert.primary_key().key().creation_time().into();
        let role = if Some(g.cert.fingerprint()) == signing {
            "signs, decrypts (publish this one)"
        } else {
            "decrypts"
        };
        println!(
            "{}  created {}  {}{}",
            g.cert.fingerprint(),
            created.format("%Y-%m-%d"),
            role,
            if g.protected {
                "  passphrase-protected"
            } else {
                ""
            }
        );
        println!("    {}", g.path.display());
    }
    println!(
        "Reporter keys: {} (in {})",
        ring.reporters().len(),
        settings.keys.reporters_dir.display()
    );
    println!(
        "Maintainer keys: {} (in {})",
        ring.maintainers().len(),
        settings.keys.maintainers_dir.display()
    );
    Ok(())
}

fn check_config(settings: &Settings) -> anyhow::Result<()> {
    let ring = Keyring::load(&settings.keys)?;
    let store = open_store(settings)?;
    // Password files and certificates are checked too; nothing is connected to.
    if let crate::config::Inbox::Imap(imap) = &settings.inbox {
        crate::source::imap::ImapInbox::new(imap.clone())?;
    }
    crate::outbox::Transport::from_settings(&settings.outbox)?;
    let reports = store.reports()?.len();
    println!(
        "configuration OK{}",
        settings
            .source
            .as_ref()
            .map(|p| format!(" ({})", p.display()))
            .unwrap_or_else(|| " (built-in defaults)".into())
    );
    println!("  gateway address: {}", settings.gateway.address);
    println!(
        "  store: {} ({reports} reports)",
        settings.store.path.display()
    );
    match ring.signing_cert() {
        Some(c) => println!("  signing key: {}", c.fingerprint()),
        None => {
            if ring.is_empty() {
                println!("  no gateway key yet: one is generated at first start");
            } else {
                bail!(
                    "the gateway keys in {} cannot sign",
                    settings.keys.dir.display()
                );
            }
        }
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}
