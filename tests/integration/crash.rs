//! Crash safety: `serve` is killed with SIGKILL at random moments while it works
//! through a backlog of encrypted and signed reports, and restarted, again and again.
//! At the end every report is stored exactly once and acknowledged, every message is
//! out of `new/`, every acknowledgement file is a whole message, and the duplicates
//! (an acknowledgement sent again because the kill came before its "sent" was
//! durable) are at most one delivery batch (`outbox::DURABLE_BATCH`) per kill, and no
//! acknowledgement is sent more than once more per kill. The store must open after
//! every kill.
//!
//! The kill moments come from a seeded generator; the seed is printed, and
//! `CRASH_SEED=<seed>` replays the same delays. `CRASH_REPORTS` and `CRASH_KILLS`
//! change the size (defaults 200 and 100).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use crate::pipeline::{entity, pgp_mime_encrypted};
use crate::util::*;

const REPORTERS: [&str; 4] = [
    "Alice Example <alice@example.net>",
    "Bob Example <bob@example.net>",
    "Carol Example <carol@example.com>",
    "Dave Example <dave@example.org>",
];

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn report_text(i: usize) -> String {
    format!(
        "Title: Crash test report {i}
Vulnerability type: SQL injection
Affected component: module{m}/handler.rs
Affected versions: 1.{m}.0 to 1.{m}.9
CVSS: CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H

Description:
Report number {i}: the parameter is concatenated into the query.

Steps to reproduce:
1. Open /module{m}
2. Send ' OR 1=1 --

Impact:
Anyone can read the whole table.
",
        m = i % 17
    )
}

/// A running `serve`, killed when dropped so that a failed assertion leaves no
/// daemon behind.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns `serve` with its log in `log`.
fn spawn_serve(gw: &Gateway, log: &Path) -> Serve {
    let file = std::fs::File::create(log).unwrap();
    Serve(
        gw.command()
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap(),
    )
}

fn read_log(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.filter_map(Result::ok).count())
}

/// When a cycle's kill comes.
#[derive(Debug, Clone, Copy)]
enum Kill {
    /// This long after the process was started.
    After(Duration),
    /// Once [`progress`] reaches this, and then this long more.
    Progress(usize, Duration),
}

/// Work done so far: messages moved to cur/ and files in the outbox.
fn progress(gw: &Gateway) -> usize {
    count_files(&gw.path("inbox/cur")) + count_files(&gw.path("outbox"))
}

/// One file of the outbox, checked to be a whole message.
struct Sent {
    message_id: String,
    in_reply_to: String,
}

/// Reads every file in the outbox. Each must be a complete message: headers, a
/// multipart body and its closing delimiter. A partial file is what a kill in the
/// middle of writing would leave; the file transport must never show one.
fn outbox_files(gw: &Gateway) -> (Vec<Sent>, Vec<String>) {
    let mut sent = Vec::new();
    let mut bad = Vec::new();
    for entry in std::fs::read_dir(gw.path("outbox")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".eml") {
            bad.push(format!("{name}: not an .eml file"));
            continue;
        }
        let Ok(raw) = std::fs::read(&path) else {
            bad.push(format!("{name}: vanished while listed"));
            continue;
        };
        let (Some(message_id), Some(in_reply_to), Some(ct)) = (
            header(&raw, "Message-ID"),
            header(&raw, "In-Reply-To"),
            header(&raw, "Content-Type"),
        ) else {
            bad.push(format!("{name}: headers incomplete ({} bytes)", raw.len()));
            continue;
        };
        if !ct.contains("boundary=") {
            bad.push(format!(
                "{name}: no multipart boundary ({} bytes)",
                raw.len()
            ));
            continue;
        }
        let closing = format!("--{}--", boundary(&raw));
        if !String::from_utf8_lossy(&raw).trim_end().ends_with(&closing) {
            bad.push(format!("{name}: truncated ({} bytes)", raw.len()));
            continue;
        }
        sent.push(Sent {
            message_id,
            in_reply_to,
        });
    }
    (sent, bad)
}

#[test]
fn sigkill_at_random_moments_loses_and_duplicates_nothing() {
    let reports = usize::try_from(env_number("CRASH_REPORTS", 200)).unwrap();
    let kills = usize::try_from(env_number("CRASH_KILLS", 100)).unwrap();
    let seed = env_number(
        "CRASH_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    );
    eprintln!("crash test: seed {seed} (replay with CRASH_SEED={seed})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    // Setup, not timed: the gateway, reporters whose keys it knows, the backlog.
    let gw = Gateway::new();
    let mut config = std::fs::read_to_string(&gw.config).unwrap();
    // Four senders and hundreds of reports: far over the default rate limits, which
    // would rightly store the reports unanswered.
    config.push_str("[rate_limits]\nper_sender = 100000\nper_domain = 100000\nglobal = 100000\n");
    std::fs::write(&gw.config, config).unwrap();
    let gpg = Gpg::new();
    gpg.import(&gw.public_key_path());
    let gateway_fpr = gw.signing_fingerprint();
    let signers: Vec<(String, String)> = REPORTERS
        .iter()
        .enumerate()
        .map(|(n, uid)| {
            let fpr = gpg.gen_key(uid);
            std::fs::write(
                gw.path(&format!("keys/reporters/r{n}.asc")),
                gpg.export(&fpr),
            )
            .unwrap();
            (uid.to_string(), fpr)
        })
        .collect();
    let made = Instant::now();
    let messages: Vec<(String, Vec<u8>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let (gpg, signers, fpr) = (&gpg, &signers, &gateway_fpr);
                s.spawn(move || {
                    (0..reports)
                        .filter(|i| i % 2 == w)
                        .map(|i| {
                            let (uid, signer) = &signers[i % signers.len()];
                            let msgid = format!("<crash-{i}@example.net>");
                            let inner = entity(
                                Some(&format!("Crash test report {i}")),
                                &report_text(i),
                                &[],
                            );
                            let armored = gpg.encrypt(fpr, Some(signer), &inner);
                            let headers = [
                                ("From", uid.as_str()),
                                ("To", GATEWAY),
                                ("Subject", "..."),
                                ("Message-ID", msgid.as_str()),
                                ("Date", "Mon, 23 Nov 2026 10:00:00 +0000"),
                                ("MIME-Version", "1.0"),
                            ];
                            let raw = pgp_mime_encrypted(&headers, &armored);
                            (msgid, raw)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    for (_, raw) in &messages {
        gw.deliver(raw);
    }
    eprintln!(
        "crash test: {} reports from {} reporters made in {:.1} s",
        messages.len(),
        REPORTERS.len(),
        made.elapsed().as_secs_f64()
    );

    // The kills. A fixed delay would land in the same phase every time and, on a fast
    // machine, after the backlog is done. So most kills wait for a random amount of
    // progress (messages moved to cur/ plus acknowledgement files; the targets are
    // drawn so the work spreads over all the cycles) and then a random moment more:
    // they land in store transactions, Maildir renames, sealing, writing files and
    // marking jobs sent. The rest come at a random time after start, in start-up and
    // store recovery.
    let started = Instant::now();
    let total_steps = 2 * messages.len();
    let mut before_ready = 0;
    let mut by_time = 0;
    // Starts that found a snapshot torn by the kill before (see `Store::open`).
    let mut torn_snapshots = 0;
    // Bounds per kill: the acknowledgements sent again by one run (those written
    // before the last kill, not yet recorded as sent: at most one delivery batch), and
    // the messages one run finds already stored (their batch's outcomes were flushed
    // or in flight, the messages not yet moved: the batch being committed and the one
    // being decided beside it, see `daemon::maildir`).
    let ack_bound = disclosured::testing::outbox::DURABLE_BATCH;
    let replay_bound = 2 * disclosured::testing::daemon::maildir::INTAKE_BATCH;
    let mut dup_acks_before = 0;
    let (mut most_dup_acks, mut most_replays) = (0, 0);
    let mut check_cycle = |cycle: &str, log: &str| {
        // A kill before the first start created the outbox leaves none yet.
        let (sent, bad) = if gw.path("outbox").is_dir() {
            outbox_files(&gw)
        } else {
            Default::default()
        };
        // A kill leaves hidden temporary files (written, not yet named); the next
        // start removes them, and the end checks that none is left.
        let bad: Vec<&String> = bad.iter().filter(|b| !b.starts_with(".tmp-")).collect();
        assert!(
            bad.is_empty(),
            "{cycle} (seed {seed}): partial outbox files: {bad:?}"
        );
        let answered: BTreeSet<&str> = sent.iter().map(|s| s.in_reply_to.as_str()).collect();
        let dup_acks = sent.len() - answered.len();
        let new_dups = dup_acks - dup_acks_before;
        dup_acks_before = dup_acks;
        assert!(
            new_dups <= ack_bound,
            "{cycle} (seed {seed}): {new_dups} acknowledgements sent again by one run \
             (bound: one delivery batch, {ack_bound})"
        );
        let replays = log
            .lines()
            .filter(|l| l.contains("outcome=duplicate") || l.contains("outcome=\"duplicate\""))
            .count();
        assert!(
            replays <= replay_bound,
            "{cycle} (seed {seed}): {replays} messages taken again by one run (bound \
             {replay_bound})\n{log}"
        );
        most_dup_acks = most_dup_acks.max(new_dups);
        most_replays = most_replays.max(replays);
    };
    for cycle in 0..kills {
        let done = progress(&gw);
        let left = total_steps.saturating_sub(done);
        let plan = if left == 0 || rng.random_bool(0.2) {
            by_time += 1;
            Kill::After(Duration::from_millis(rng.random_range(0..=250)))
        } else {
            let mean = (left / (kills - cycle)).max(1);
            Kill::Progress(
                done + rng.random_range(1..=2 * mean),
                Duration::from_millis(rng.random_range(0..=15)),
            )
        };
        let log = gw.path(&format!("serve-{cycle}.log"));
        let spawned = Instant::now();
        let mut child = spawn_serve(&gw, &log);
        loop {
            if let Some(status) = child.0.try_wait().unwrap() {
                panic!(
                    "cycle {cycle} (seed {seed}): serve exited by itself with {status}; \
                     the store did not open after a kill?\n{}",
                    read_log(&log)
                );
            }
            match plan {
                Kill::After(d) if spawned.elapsed() >= d => break,
                Kill::Progress(target, extra) if progress(&gw) >= target => {
                    std::thread::sleep(extra);
                    break;
                }
                _ => {}
            }
            assert!(
                spawned.elapsed() < Duration::from_secs(60),
                "cycle {cycle} (seed {seed}): no progress in 60 s\n{}",
                read_log(&log)
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        drop(child);
        let text = read_log(&log);
        let ready = text.contains("disclosured started");
        if !ready {
            before_ready += 1;
        }
        if text.contains("removing an unfinished store snapshot") {
            torn_snapshots += 1;
        }
        check_cycle(&format!("cycle {cycle}"), &text);
        eprintln!(
            "crash test: cycle {cycle}: {plan:?}, killed after {} ms{}; new/ {}, outbox {}",
            spawned.elapsed().as_millis(),
            if ready { "" } else { " (before ready)" },
            count_files(&gw.path("inbox/new")),
            count_files(&gw.path("outbox")),
        );
    }
    let kill_phase = started.elapsed();

    // The last run: it must start, finish the backlog, and stop cleanly.
    let log = gw.path("serve-final.log");
    let mut child = spawn_serve(&gw, &log);
    let want: BTreeSet<String> = messages
        .iter()
        .map(|(id, _)| id.trim_matches(['<', '>']).to_string())
        .collect();
    let finish = Instant::now();
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!(
                "final run (seed {seed}): serve exited by itself with {status}\n{}",
                read_log(&log)
            );
        }
        let (sent, _) = outbox_files(&gw);
        let answered: BTreeSet<String> = sent
            .iter()
            .map(|s| s.in_reply_to.trim_matches(['<', '>']).to_string())
            .collect();
        // Ready first: a SIGTERM before the handler is installed is just another kill.
        let ready = read_log(&log).contains("disclosured started");
        if ready && count_files(&gw.path("inbox/new")) == 0 && want.is_subset(&answered) {
            break;
        }
        assert!(
            finish.elapsed() < Duration::from_secs(180),
            "final run (seed {seed}): backlog not finished after 180 s: new/ {}, \
             {} of {} answered\n{}",
            count_files(&gw.path("inbox/new")),
            want.intersection(&answered).count(),
            want.len(),
            read_log(&log)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::process::Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    let status = child.0.wait().unwrap();
    assert!(
        status.success(),
        "final run (seed {seed}): {status}\n{}",
        read_log(&log)
    );
    let total = started.elapsed();
    check_cycle("final run", &read_log(&log));
    eprintln!(
        "crash test: seed {seed}: at most {most_dup_acks} acknowledgements sent again and \
         {most_replays} messages taken again by one run (bounds {ack_bound} and {replay_bound})"
    );

    // Every message became exactly one report, acknowledged.
    let stored = gw.reports();
    let mut per_msgid: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &stored {
        per_msgid
            .entry(r["message_id"].as_str().unwrap().to_string())
            .or_default()
            .push(r["id"].as_str().unwrap().to_string());
        assert_eq!(r["status"], "acknowledged", "seed {seed}: {r}");
        assert_eq!(r["signature"], "good", "seed {seed}: {r}");
        assert_eq!(r["encrypted"], true, "seed {seed}: {r}");
    }
    let twice: Vec<_> = per_msgid.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(twice.is_empty(), "seed {seed}: stored twice: {twice:?}");
    let have: BTreeSet<String> = per_msgid.keys().cloned().collect();
    assert_eq!(have, want, "seed {seed}: reports do not match the messages");
    assert_eq!(stored.len(), messages.len());

    // Every message is handled and none quarantined.
    assert_eq!(count_files(&gw.path("inbox/new")), 0);
    assert_eq!(count_files(&gw.path("inbox/tmp")), 0);
    let cur: Vec<String> = std::fs::read_dir(gw.path("inbox/cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(cur.len(), messages.len(), "seed {seed}: {cur:?}");
    assert!(
        cur.iter().all(|n| n.ends_with(":2,S")),
        "seed {seed}: {cur:?}"
    );
    let quarantined: Vec<_> = gw
        .quarantine()
        .into_iter()
        .filter(|q| q["kind"] == "quarantined")
        .collect();
    assert!(quarantined.is_empty(), "seed {seed}: {quarantined:?}");
    for dir in [".Quarantine/new", ".Quarantine/cur"] {
        assert_eq!(count_files(&gw.path(&format!("inbox/{dir}"))), 0);
    }

    // Nothing waits in the queue.
    let queued = gw.json(&["outbox", "list", "--json"]);
    assert_eq!(queued.as_array().unwrap().len(), 0, "seed {seed}: {queued}");

    // Every acknowledgement was delivered whole; duplicates bounded per kill (below).
    let (sent, bad) = outbox_files(&gw);
    assert!(bad.is_empty(), "seed {seed}: partial outbox files: {bad:?}");
    let mut by_msgid: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_report: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &sent {
        *by_msgid.entry(&s.message_id).or_default() += 1;
        *by_report.entry(&s.in_reply_to).or_default() += 1;
    }
    let dup_msgid = sent.len() - by_msgid.len();
    let dup_report = sent.len() - by_report.len();
    assert_eq!(by_report.len(), messages.len(), "seed {seed}");
    assert_eq!(
        dup_msgid, dup_report,
        "seed {seed}: a report was answered by two different acknowledgements"
    );
    eprintln!(
        "crash test: seed {seed}: {} reports, {kills} kills ({by_time} timed, {before_ready} before ready, \
         {torn_snapshots} torn snapshots removed), \
         {} acknowledgement files, {dup_report} duplicates; kills {:.1} s, total {:.1} s",
        stored.len(),
        sent.len(),
        kill_phase.as_secs_f64(),
        total.as_secs_f64()
    );
    // A kill repeats at most the messages sent since the last flush: one batch.
    let per_kill = disclosured::testing::outbox::DURABLE_BATCH;
    assert!(
        dup_report <= kills * per_kill,
        "seed {seed}: {dup_report} duplicate acknowledgements after {kills} kills"
    );
    let most = by_report.values().max().copied().unwrap_or(0);
    assert!(
        most <= 1 + kills,
        "seed {seed}: one report acknowledged {most} times after {kills} kills"
    );
}

/// A gateway that knows one reporter, with `n` reports from that reporter (encrypted
/// to the gateway and signed, made with GnuPG) waiting in its inbox; their
/// Message-IDs without brackets. Failed sends are retried after one second.
fn small_backlog(n: usize) -> (Gateway, Vec<String>) {
    let gw = Gateway::new();
    let config = std::fs::read_to_string(&gw.config).unwrap().replace(
        "[outbox]\nkind = \"file\"\n",
        "[outbox]\nkind = \"file\"\nretry_schedule = [\"1s\"]\nretry_jitter = 0.0\n",
    );
    std::fs::write(&gw.config, config).unwrap();
    let gpg = Gpg::new();
    gpg.import(&gw.public_key_path());
    let gateway_fpr = gw.signing_fingerprint();
    let signer = gpg.gen_key(REPORTERS[0]);
    std::fs::write(gw.path("keys/reporters/r0.asc"), gpg.export(&signer)).unwrap();
    let ids = (0..n)
        .map(|i| {
            let msgid = format!("<durable-{i}@example.net>");
            let inner = entity(Some(&format!("Report {i}")), &report_text(i), &[]);
            let armored = gpg.encrypt(&gateway_fpr, Some(&signer), &inner);
            let headers = [
                ("From", REPORTERS[0]),
                ("To", GATEWAY),
                ("Subject", "..."),
                ("Message-ID", msgid.as_str()),
                ("Date", "Mon, 23 Nov 2026 10:00:00 +0000"),
                ("MIME-Version", "1.0"),
            ];
            gw.deliver(&pgp_mime_encrypted(&headers, &armored));
            msgid.trim_matches(['<', '>']).to_string()
        })
        .collect();
    (gw, ids)
}

/// `run-once` with the debug build's fault hook failing the durability `step`.
fn run_once_failing(gw: &Gateway, step: &str) -> String {
    let out = gw
        .command()
        .arg("run-once")
        .env("DISCLOSURED_TEST_FAIL", step)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "run-once failed: {log}");
    log
}

/// How many acknowledgement files answer each report (by In-Reply-To), and the
/// outbox's names that are not whole messages' (`.eml`).
fn answers(gw: &Gateway) -> (BTreeMap<String, usize>, Vec<String>) {
    let (sent, bad) = outbox_files(gw);
    let mut by_report = BTreeMap::new();
    for s in sent {
        *by_report
            .entry(s.in_reply_to.trim_matches(['<', '>']).to_string())
            .or_default() += 1;
    }
    (by_report, bad)
}

/// Issue 29: a batch of messages leaves the inbox only after the one store flush that
/// made its outcomes durable. With that flush failing, every message stays in `new/`
/// (a crash there would have lost nothing); the next pass takes each again as a
/// duplicate of its stored outcome: one report and one acknowledgement each.
#[test]
fn a_batch_whose_flush_fails_stays_in_the_inbox_and_is_replayed_once() {
    let (gw, ids) = small_backlog(3);
    let log = run_once_failing(&gw, "intake-flush");
    assert!(
        log.contains("store flush failed; the batch stays in the inbox"),
        "{log}"
    );
    assert_eq!(count_files(&gw.path("inbox/new")), 3, "{log}");
    assert_eq!(count_files(&gw.path("inbox/cur")), 0, "{log}");

    let log = gw.run_once();
    assert_eq!(count_files(&gw.path("inbox/new")), 0, "{log}");
    assert_eq!(count_files(&gw.path("inbox/cur")), 3, "{log}");
    let reports = gw.reports();
    let mut stored: Vec<String> = reports
        .iter()
        .map(|r| r["message_id"].as_str().unwrap().to_string())
        .collect();
    stored.sort();
    assert_eq!(stored, ids, "each message one report");
    // The replay is on record as three duplicates of the stored reports.
    let duplicates = gw
        .quarantine()
        .into_iter()
        .filter(|q| {
            q["reason"]
                .as_str()
                .unwrap_or("")
                .starts_with("duplicate of report VR-")
        })
        .count();
    assert_eq!(duplicates, 3, "{:?}", gw.quarantine());
    let (by_report, bad) = answers(&gw);
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(by_report.keys().cloned().collect::<Vec<_>>(), ids);
    assert!(by_report.values().all(|&n| n == 1), "{by_report:?}");
}

/// Issue 29: a delivery batch's acknowledgements are written under temporary names
/// and take their names only after the batch's one sync. With that sync failing, no
/// acknowledgement shows in the outbox (nor a temporary file), the jobs wait for a
/// retry, and the retry sends each exactly once.
#[test]
fn acknowledgements_show_only_after_their_batch_sync() {
    let (gw, ids) = small_backlog(3);
    let log = run_once_failing(&gw, "outbox-sync");
    assert_eq!(count_files(&gw.path("inbox/cur")), 3, "{log}");
    let left: Vec<String> = std::fs::read_dir(gw.path("outbox"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "written before the sync: {left:?}\n{log}");
    let queued = gw.json(&["outbox", "list", "--json"]);
    let queued = queued.as_array().unwrap();
    assert_eq!(queued.len(), 3, "{queued:?}");

    // Due again one second later (the configured retry schedule).
    std::thread::sleep(Duration::from_millis(1500));
    let log = gw.run_once();
    let (by_report, bad) = answers(&gw);
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(by_report.keys().cloned().collect::<Vec<_>>(), ids, "{log}");
    assert!(by_report.values().all(|&n| n == 1), "{by_report:?}");
    let queued = gw.json(&["outbox", "list", "--json"]);
    assert_eq!(queued.as_array().unwrap().len(), 0, "{queued}");
}
