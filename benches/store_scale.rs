//! Store scale and idle memory: the maintainers' commands on a store of N reports, the
//! daemon's start-up on it, the store's size on disk, and an idle daemon's RSS.
//!
//! The store is filled through the library (`Store::commit_report`, as the pipeline
//! does, then `modify_report` to move most reports on), not timed. Reports are spread
//! over five years, oldest first; the newest 1% are still open (new, acknowledged,
//! triaged, accepted), the rest fixed, disclosed or rejected. Each has a body of about
//! 3 KB, the extracted fields, a CVSS vector, one attachment and its events, and its
//! acknowledgement in the outbox, sent except for the new reports. Then the
//! release binary, with no daemon running (so each command opens the store itself):
//! `reports list --json`, `reports show` (text and `--json`), `digest --dry-run`, and
//! `serve` until its control socket appears; then the same commands through a
//! running `serve`'s control socket. Finally `serve` on an empty store and
//! Maildir: VmRSS after 5 s.
//!
//! `cargo bench --bench store_scale -- 100000 5` (reports, runs per command);
//! `STORE_SCALE_DIR=DIR` keeps the filled store in DIR for the next run.

#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use disclosured::testing::intake::Mailbox;
use disclosured::testing::policy::{DeadlineName, Deadlines};
use disclosured::testing::store::{
    AttachmentMeta, Event, JobKind, NewJob, NewReport, Status, Store, StoreKey,
};

const BIN: &str = env!("CARGO_BIN_EXE_disclosured");

const STEPS: &str = "1. Log in as any user and open /account/export.\n2. Intercept the request and change the format parameter to `csv'||(SELECT version())||'`.\n3. The response contains the database version; with a UNION the whole users table can be read.\n4. The same parameter is reachable without authentication through /api/v2/export when the legacy token header is present.\n";

fn new_report(i: usize, n: usize) -> NewReport {
    // Spread over five years, oldest first, ending an hour ago.
    let span = 5 * 365 * 86_400_i64;
    let age = span * i64::try_from(n - i).unwrap() / i64::try_from(n).unwrap() + 3600;
    let at = Utc::now() - chrono::Duration::seconds(age);
    let sha = format!("{:064x}", i);
    let description = format!(
        "Report {i}. The export endpoint builds its SQL query by concatenating the `format` \
         parameter into an ORDER BY clause. Any authenticated user can read arbitrary tables, \
         including password hashes and API tokens. Tested on a fresh installation of 2.3.1 \
         with the default configuration and on the public demo instance (read-only queries \
         only). {}",
        "Additional context about the deployment and the affected code paths. ".repeat(4)
    );
    let body = format!(
        "Title: SQL injection in the account export (#{i})\nVulnerability type: SQL injection\n\
         Affected component: web/account/export.php\nAffected versions: 2.0 to 2.3.1\n\
         CVSS: CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:N\n\nDescription:\n{description}\n\n\
         Steps to reproduce:\n{STEPS}\nProof of concept: see the attached script.\n\n\
         Impact: full read access to the database.\n\nSuggested fix: use a whitelist of formats \
         and bind parameters.\n\nCredit: Researcher {i}\n{}",
        "Log excerpt: 2026-01-01T00:00:00Z GET /account/export?format=csv 200 1532 bytes\n"
            .repeat(12)
    );
    NewReport {
        received_at: at,
        from: Mailbox {
            name: Some(format!("Researcher {}", i % 977)),
            address: format!("researcher{}@example.net", i % 977),
        },
        reply_to: None,
        subject: Some(format!("Security issue: SQL injection in export (#{i})")),
        message_id: Some(format!("<report{i}.{}@example.net>", at.timestamp())),
        content_sha256: sha.clone(),
        form: disclosured::testing::crypto::open::Form::Inline,
        encrypted: true,
        decrypted_with: Some("0123456789ABCDEF0123456789ABCDEF01234567".into()),
        signature: disclosured::testing::crypto::SignatureStatus::Good,
        signature_covers_all: true,
        signer_matches_from: true,
        signer_fingerprint: Some(format!("{:040X}", i % 977)),
        signer_key_source: Some(disclosured::testing::crypto::KeySource::ReportersDir),
        reporter_key: Some(format!("{:040X}", i % 977)),
        proven_key: Some(format!("{:040X}", i % 977)),
        proof_checked: true,
        unverified_followup_of: None,
        fields: disclosured::testing::extract::Fields {
            title: Some(format!("SQL injection in the account export (#{i})")),
            vulnerability_type: Some("SQL injection".into()),
            affected_component: Some("web/account/export.php".into()),
            affected_versions: Some("2.0 to 2.3.1".into()),
            description: Some(description),
            steps_to_reproduce: Some(STEPS.into()),
            proof_of_concept: Some("see the attached script".into()),
            impact: Some("full read access to the database".into()),
            suggested_fix: Some("use a whitelist of formats and bind parameters".into()),
            cvss: disclosured::testing::extract::find_cvss(
                "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:N",
            ),
            stated_severity: None,
            credit_name: Some(format!("Researcher {i}")),
            contact: None,
            inferred: Default::default(),
            affected: vec![disclosured::testing::extract::AffectedRange {
                introduced: Some("2.0".into()),
                last_affected: Some("2.3.1".into()),
                fixed: None,
                text: "2.0 to 2.3.1".into(),
            }],
            fixed_versions: vec!["2.3.2".into()],
        },
        missing: vec![],
        attachments: vec![AttachmentMeta {
            name: Some("poc.py".into()),
            content_type: "text/x-python".into(),
            size: 2048,
            sha256: sha,
        }],
        body,
        source_file: None,
        deadlines: Deadlines {
            acknowledge: at + chrono::Duration::days(2),
            initial_assessment: at + chrono::Duration::days(7),
            fix: Some(at + chrono::Duration::days(30)),
        },
        hints: vec![],
        suppressed_ack: false,
        unknown_signer: None,
    }
}

/// Where report `i` of `n` stands now.
fn status_of(i: usize, n: usize) -> Status {
    if i >= n - n / 100 {
        [
            Status::New,
            Status::Acknowledged,
            Status::Triaged,
            Status::Accepted,
        ][i % 4]
    } else {
        [Status::Fixed, Status::Disclosed, Status::Rejected][i % 3]
    }
}

fn fill(path: &Path, n: usize) {
    // `keys generate` made the store key beside the store, in keys.dir.
    let key_file = path.parent().unwrap().join("keys/store-key");
    let key = StoreKey::parse(&std::fs::read_to_string(key_file).unwrap()).unwrap();
    let store = Store::open(path, &key).unwrap();
    let threads = 16;
    std::thread::scope(|scope| {
        for t in 0..threads {
            let store = store.clone();
            scope.spawn(move || {
                for i in (t..n).step_by(threads) {
                    let report = new_report(i, n);
                    let at = report.received_at;
                    let to = report.from.address.clone();
                    let commit = store
                        .commit_report("VR", report, vec![NewJob::new(JobKind::Ack, &to, at)])
                        .unwrap();
                    let disclosured::testing::store::Commit::Stored(
                        disclosured::testing::store::OutcomeRef::Report(id),
                    ) = commit
                    else {
                        panic!("not stored: {commit:?}")
                    };
                    let status = status_of(i, n);
                    if status == Status::New {
                        continue;
                    }
                    store
                        .modify_report(&id, |r| {
                            let ack = at + chrono::Duration::hours(3);
                            r.milestones.insert(DeadlineName::Acknowledge, ack);
                            r.events
                                .push(Event::new(ack, "system", "acknowledged", None));
                            if status != Status::Acknowledged {
                                let day = at + chrono::Duration::days(1);
                                r.milestones.insert(DeadlineName::InitialAssessment, day);
                                r.triage.assignee = Some("alice".into());
                                r.events.push(Event::new(
                                    day,
                                    "alice@example.org",
                                    "status",
                                    Some(format!("to {}", status.as_str())),
                                ));
                            }
                            if matches!(status, Status::Fixed | Status::Disclosed) {
                                let fixed = at + chrono::Duration::days(20);
                                r.milestones.insert(DeadlineName::Fix, fixed);
                            }
                            r.status = status;
                            Ok(Vec::new())
                        })
                        .unwrap();
                }
            });
        }
    });
    // The acknowledgements of all but the new reports went out long ago (a sent job
    // keeps its Message-ID, not its rendered message).
    let jobs = store.open_jobs().unwrap();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (store, jobs) = (store.clone(), &jobs);
            scope.spawn(move || {
                for job in jobs.iter().skip(t).step_by(threads) {
                    let Some(disclosured::testing::store::OutcomeRef::Report(id)) = &job.outcome
                    else {
                        continue;
                    };
                    if store.report(id).unwrap().unwrap().status == Status::New {
                        continue;
                    }
                    let mut job = job.clone();
                    job.state = disclosured::testing::store::JobState::Sent;
                    job.tries = 1;
                    job.sent_at = Some(job.created_at + chrono::Duration::minutes(1));
                    job.message_id = Some(format!("<ack{}@example.org>", job.id));
                    store.save_job(&job).unwrap();
                }
            });
        }
    });
    store.flush().unwrap();
}

fn disk_usage(path: &Path) -> (u64, u64) {
    let mut apparent = 0;
    let mut allocated = 0;
    for entry in std::fs::read_dir(path).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        if meta.is_dir() {
            let (a, b) = disk_usage(&entry.path());
            apparent += a;
            allocated += b;
        } else {
            apparent += meta.len();
            allocated += meta.blocks() * 512;
        }
    }
    (apparent, allocated)
}

fn stats(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    format!(
        "median {:.0} ms (min {:.0}, max {:.0}, {} runs)",
        ms[ms.len() / 2],
        ms[0],
        ms[ms.len() - 1],
        ms.len()
    )
}

/// Runs the CLI `runs` times; returns wall times in ms and the last stdout's size.
fn time_cli(config: &Path, args: &[&str], runs: usize) -> (Vec<f64>, usize) {
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let out = Command::new(BIN)
            .arg("--config")
            .arg(config)
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        size = out.stdout.len();
    }
    (times, size)
}

fn serve(config: &Path) -> Child {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .arg("serve")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Wall time from spawning `serve` to its control socket appearing.
fn time_startup(config: &Path, socket: &Path, runs: usize) -> Vec<f64> {
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let mut child = serve(config);
        loop {
            if socket.exists() {
                break;
            }
            assert!(child.try_wait().unwrap().is_none(), "serve exited early");
            assert!(t.elapsed() < Duration::from_secs(120), "no control socket");
            std::thread::sleep(Duration::from_micros(500));
        }
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        stop(child);
        assert!(!socket.exists(), "control socket left behind");
    }
    times
}

fn vm_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn write_config(root: &Path) -> std::path::PathBuf {
    for d in [
        "inbox/new",
        "inbox/cur",
        "inbox/tmp",
        "keys/reporters",
        "state",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let config = root.join("disclosured.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\naddress = \"security@example.org\"\nreport_id_prefix = \"VR\"\n[inbox]\npath = \"{r}/inbox\"\n[outbox]\npath = \"{r}/outbox\"\n[store]\npath = \"{r}/state\"\n[keys]\ndir = \"{r}/keys\"\n",
            r = root.display()
        ),
    )
    .unwrap();
    config
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);

    // 6. Idle RSS: an empty store and Maildir (the gateway key is generated at the
    //    first start, which also makes the key for the store runs below).
    // Idle RSS and start-up on an empty store and Maildir (the gateway key is
    // generated at the first start).
    let empty = tempfile::tempdir().unwrap();
    let empty_config = write_config(empty.path());
    let empty_socket =
        disclosured::testing::daemon::control::socket_path(&empty.path().join("state"));
    let mut idle = Vec::new();
    for _ in 0..runs.min(3) {
        let child = serve(&empty_config);
        std::thread::sleep(Duration::from_secs(5));
        idle.push(vm_rss_kib(child.id()) as f64 / 1024.0);
        stop(child);
    }
    idle.sort_by(f64::total_cmp);
    let empty_startup = time_startup(&empty_config, &empty_socket, runs);

    // The store (not timed beyond the report of it). STORE_SCALE_DIR keeps it there
    // and reuses it on the next run with the same N.
    let keep = std::env::var_os("STORE_SCALE_DIR").map(std::path::PathBuf::from);
    let dir = tempfile::tempdir().unwrap();
    let root = keep.as_deref().unwrap_or(dir.path());
    let filled = root.join("filled");
    let config = write_config(root);
    let store = root.join("state");
    let socket = disclosured::testing::daemon::control::socket_path(&store);
    let mut fill_s = 0.0;
    if std::fs::read_to_string(&filled).ok() != Some(format!("{n} v3")) {
        std::fs::remove_dir_all(&store).unwrap();
        for key in std::fs::read_dir(root.join("keys")).unwrap() {
            let key = key.unwrap().path();
            if key.is_file() {
                std::fs::remove_file(key).unwrap();
            }
        }
        let (_, _) = time_cli(&config, &["keys", "generate"], 1);
        let t = Instant::now();
        fill(&store, n);
        fill_s = t.elapsed().as_secs_f64();
        std::fs::write(&filled, format!("{n} v3")).unwrap();
    }
    let (apparent, allocated) = disk_usage(&store);

    let last = format!("VR-{}-0001", Utc::now().format("%Y"));
    let first_year = Utc
        .timestamp_opt(Utc::now().timestamp() - 5 * 365 * 86_400 + 3600 * 2, 0)
        .unwrap()
        .format("%Y")
        .to_string();
    let old = format!("VR-{first_year}-0001");
    let (list, list_bytes) = time_cli(&config, &["reports", "list", "--json"], runs);
    let (list_text, _) = time_cli(&config, &["reports", "list"], runs);
    let (show, _) = time_cli(&config, &["reports", "show", &last], runs);
    let (show_old, _) = time_cli(&config, &["reports", "show", "--json", &old], runs);
    let (digest, digest_bytes) = time_cli(&config, &["digest", "--dry-run"], runs);
    let startup = time_startup(&config, &socket, runs);
    // The same commands beside a running daemon: they go through its control socket
    // to the store it holds open, as they do in a real deployment.
    let child = serve(&config);
    let t = Instant::now();
    while !socket.exists() {
        assert!(t.elapsed() < Duration::from_secs(120), "no control socket");
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_secs(5));
    let loaded_rss = vm_rss_kib(child.id()) as f64 / 1024.0;
    let (d_show, _) = time_cli(&config, &["reports", "show", &last], runs);
    let (d_show_old, _) = time_cli(&config, &["reports", "show", "--json", &old], runs);
    let (d_list, _) = time_cli(&config, &["reports", "list", "--json"], runs);
    let (d_digest, _) = time_cli(&config, &["digest", "--dry-run"], runs);
    let after_rss = vm_rss_kib(child.id()) as f64 / 1024.0;
    stop(child);

    println!("store_scale: {n} reports, filled in {fill_s:.0} s through the library (0: reused)");
    println!(
        "  store on disk: {:.0} MiB apparent, {:.0} MiB allocated",
        apparent as f64 / 1048576.0,
        allocated as f64 / 1048576.0
    );
    println!(
        "  reports list --json:   {} -> {:.1} MiB",
        stats(list),
        list_bytes as f64 / 1048576.0
    );
    println!("  reports list (text):   {}", stats(list_text));
    println!("  reports show {last}: {}", stats(show));
    println!("  reports show --json {old}: {}", stats(show_old));
    println!(
        "  digest --dry-run:      {} -> {:.0} KiB",
        stats(digest),
        digest_bytes as f64 / 1024.0
    );
    println!("  serve start-up to control socket: {}", stats(startup));
    println!("  serve RSS after 5 s on this store: {loaded_rss:.1} MiB");
    println!("  through the running daemon's control socket:");
    println!("    reports show {last}: {}", stats(d_show));
    println!("    reports show --json {old}: {}", stats(d_show_old));
    println!("    reports list --json: {}", stats(d_list));
    println!("    digest --dry-run: {}", stats(d_digest));
    println!("    serve RSS after these commands: {after_rss:.1} MiB");
    println!("empty store and Maildir:");
    println!(
        "  serve start-up to control socket: {}",
        stats(empty_startup)
    );
    println!(
        "  idle serve VmRSS after 5 s: {:.1} MiB (min {:.1}, max {:.1}, {} runs)",
        idle[idle.len() / 2],
        idle[0],
        idle[idle.len() - 1],
        idle.len()
    );
}
