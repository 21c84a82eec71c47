//! Backlog throughput, the OpenPGP floor and a GnuPG pipeline, on the same messages.
//!
//! N reports, encrypted to the gateway and signed by a reporter whose key is
//! pre-loaded (so every acknowledgement is signed and encrypted), are made with
//! GnuPG beforehand (not timed). Then:
//! 1. `run-once` (release build, file transport) over the Maildir: reports per
//!    second, CPU per report, peak RSS (from its own log line);
//! 2. the OpenPGP floor: the same per-report cryptography in-process with
//!    sequoia-openpgp (open + verify the report, sign + encrypt an acknowledgement);
//! 3. the GnuPG pipeline: `gpg --decrypt` then `gpg --sign --encrypt` per message,
//!    on as many workers as there are cores (the parallelism run-once uses).
//!
//! `cargo bench --bench backlog -- 1000 cv25519` (or `rsa4096`); `make bench` runs both.
//!
//! Scale: `BACKLOG_SLICE=1000 BACKLOG_ONLY_GATEWAY=1 cargo bench --bench backlog --
//! 10000 cv25519` prints, for each slice of 1,000 messages in the order run-once
//! handled them, the time per report of intake and of the acknowledgements sent
//! (from the timestamps of run-once's own log lines), so that a store that slows as
//! it grows shows as rising figures. `BACKLOG_ONLY_GATEWAY` skips the floor and the
//! GnuPG pipeline.

#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Instant;

use disclosured::testing::config::{KeySettings, Limits};
use disclosured::testing::crypto::{KeySource, Keyring, open, seal};

const REPORT: &str = "Title: SQL injection in login form\nVulnerability type: SQL injection\nAffected component: auth/login.php\nAffected versions: 2.0 to 2.3.1\nCVSS: CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\n\nSteps to reproduce:\n1. Open /login\n2. Enter a quote\n\nImpact: the whole user table.\n";

#[path = "support/gpg.rs"]
mod gpg_support;
#[path = "support/run_once.rs"]
mod run_support;
use gpg_support::{gen_key, gpg};

fn main() {
    // sequoia makes `anyhow` errors in its normal course (looking for a binding
    // signature that is not there), and with RUST_BACKTRACE=1 in the environment
    // each captures a backtrace: about 7% of run-once's CPU in a profile. A service
    // runs without it; so do both sides of this comparison. Set before this process
    // captured any backtrace, by running itself again (no unsafe `set_var`).
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        let status = Command::new(std::env::current_exe().unwrap())
            .args(std::env::args_os().skip(1))
            .env("RUST_LIB_BACKTRACE", "0")
            .status()
            .unwrap();
        std::process::exit(status.code().unwrap_or(1));
    }
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let algo = args.next().unwrap_or_else(|| "cv25519".into());
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());

    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::Builder::new()
        .prefix("gb")
        .tempdir_in("/tmp")
        .unwrap();
    let root = dir.path();
    // The gateway key (made with GnuPG so both algorithms come from one place) and
    // the reporter's key.
    let gw = gen_key(home.path(), "Gateway <security@example.org>", &algo);
    let alice = gen_key(home.path(), "Alice <alice@example.net>", &algo);
    std::fs::create_dir_all(root.join("keys/reporters")).unwrap();
    let secret = root.join("keys/gateway.asc");
    std::fs::write(
        &secret,
        gpg(home.path(), &["--armor", "--export-secret-keys", &gw], b""),
    )
    .unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let alice_pub = gpg(home.path(), &["--armor", "--export", &alice], b"");
    std::fs::write(root.join("keys/reporters/alice.asc"), &alice_pub).unwrap();

    // The messages (not timed).
    let t = Instant::now();
    let mut messages = Vec::with_capacity(n);
    for i in 0..n {
        let body = format!("{REPORT}\nReport number {i}.\n");
        let armored = gpg(
            home.path(),
            &["--armor", "--encrypt", "--sign", "-r", &gw, "-u", &alice],
            body.as_bytes(),
        );
        let raw = format!(
            "From: Alice <alice@example.net>\r\nTo: security@example.org\r\nSubject: Report {i}\r\nMessage-ID: <bench{i}@example.net>\r\nContent-Type: text/plain\r\n\r\n{}",
            String::from_utf8_lossy(&armored)
        );
        messages.push(raw.into_bytes());
    }
    eprintln!(
        "made {n} messages with gpg in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let only_gateway = std::env::var_os("BACKLOG_ONLY_GATEWAY").is_some();
    // 2. The OpenPGP floor, in-process.
    let keyring = Keyring::load(&KeySettings {
        dir: root.join("keys"),
        reporters_dir: root.join("keys/reporters"),
        maintainers_dir: root.join("keys/maintainers"),
        passphrase: None,
    })
    .unwrap();
    let reporter = keyring.reporters()[0].clone();
    let lookup = |h: &sequoia_openpgp::KeyHandle| {
        reporter
            .keys()
            .key_handle(h.clone())
            .next()
            .map(|_| (reporter.clone(), KeySource::ReportersDir))
            .into_iter()
            .collect()
    };
    let ack = vec![b'a'; 1500];
    let t = Instant::now();
    for raw in messages.iter().filter(|_| !only_gateway) {
        let opened = open(raw, &keyring, &lookup, &[], &Limits::default()).unwrap();
        assert_eq!(
            opened.signature,
            disclosured::testing::crypto::SignatureStatus::Good
        );
        seal::sign_and_encrypt(&keyring, &[&reporter], &ack).unwrap();
    }
    let floor = t.elapsed().as_secs_f64() / n as f64;

    // 3. The GnuPG pipeline: decrypt+verify, then sign+encrypt the acknowledgement,
    //    as separate gpg processes per message, on as many workers as run-once uses.
    let ack_str = String::from_utf8(ack).unwrap();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let t = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..cores {
            scope.spawn(|| {
                while let Some(raw) = messages
                    .get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
                    .filter(|_| !only_gateway)
                {
                    let text = String::from_utf8_lossy(raw);
                    let armor = &text[text.find("-----BEGIN").unwrap()..];
                    gpg(home.path(), &["--decrypt"], armor.as_bytes());
                    gpg(
                        home.path(),
                        &["--armor", "--sign", "--encrypt", "-r", &alice, "-u", &gw],
                        ack_str.as_bytes(),
                    );
                }
            });
        }
    });
    let gnupg_rate = n as f64 / t.elapsed().as_secs_f64();

    // 1. The whole gateway.
    std::fs::create_dir_all(root.join("inbox/new")).unwrap();
    std::fs::create_dir_all(root.join("inbox/tmp")).unwrap();
    for (i, raw) in messages.iter().enumerate() {
        std::fs::write(root.join(format!("inbox/new/{i:06}.bench")), raw).unwrap();
    }
    let config = root.join("disclosured.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\naddress = \"security@example.org\"\n[inbox]\npath = \"{r}/inbox\"\n[outbox]\npath = \"{r}/outbox\"\n[store]\npath = \"{r}/state\"\n[keys]\ndir = \"{r}/keys\"\n[rate_limits]\nper_sender = 1000000\nper_domain = 1000000\nglobal = 1000000\n",
            r = root.display()
        ),
    )
    .unwrap();
    // BACKLOG_WRAP runs run-once under another program, e.g.
    // BACKLOG_WRAP="perf record -g -o /tmp/backlog.perf --".
    let run = run_support::run_once("BACKLOG_WRAP", &config);
    let (wall, log) = (run.wall, &run.log);
    let field = |name: &str| run.field(name);
    assert_eq!(field("reports") as usize, n, "{log}");
    assert_eq!(field("sent") as usize, n, "{log}");

    let floor_rate = cores as f64 / floor;
    let rate = n as f64 / wall;
    println!("backlog {algo}: {n} reports, {cores} cores");
    println!(
        "  run-once phases: intake {} ms, delivery {} ms",
        field("intake_ms"),
        field("deliver_ms")
    );
    println!(
        "  run-once:      {rate:.0} reports/s, {:.2} ms CPU/report, peak RSS {:.0} MiB",
        field("cpu_ms") / n as f64,
        field("peak_rss_kib") / 1024.0
    );
    if !only_gateway {
        println!(
            "  OpenPGP floor: {:.2} ms/report in one thread -> floor rate {floor_rate:.0} reports/s on {cores} cores",
            floor * 1000.0
        );
        println!("  GnuPG:         {gnupg_rate:.0} reports/s with {cores} workers");
        println!(
            "  ratios: run-once / floor rate = {:.2}; run-once / GnuPG at the same parallelism = {:.1}",
            rate / floor_rate,
            rate / gnupg_rate
        );
    }
    if let Some(slice) = std::env::var("BACKLOG_SLICE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        print_slices(log, slice.max(1));
    }
    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(home.path())
        .args(["--kill", "all"])
        .status();
}

/// The time of each of run-once's log lines that contains `what`, in order.
fn stamps(log: &str, what: &str) -> Vec<chrono::DateTime<chrono::FixedOffset>> {
    log.lines()
        .filter(|l| l.contains(what))
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .collect()
}

/// Milliseconds per report in each slice of `slice` messages handled ("message
/// handled") and acknowledgements sent ("message sent"): from the line that ended the
/// slice before to the one that ends this one (the first slice from the first line).
fn print_slices(log: &str, slice: usize) {
    for (what, name) in [("message handled", "intake"), ("message sent", "sent")] {
        let times = stamps(log, what);
        let mut line = format!("  {name} per slice of {slice}, ms/report:");
        let mut from = times.first().copied();
        for chunk in times.chunks(slice) {
            let (Some(start), Some(end)) = (from, chunk.last().copied()) else {
                break;
            };
            let ms = (end - start).num_microseconds().unwrap_or(0) as f64 / 1000.0;
            line.push_str(&format!(" {:.2}", ms / chunk.len() as f64));
            from = Some(end);
        }
        println!("{line}");
    }
}
