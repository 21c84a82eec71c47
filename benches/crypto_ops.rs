//! The OpenPGP operations of one report, one at a time, with whichever crypto backend
//! this build of sequoia-openpgp uses (the `crypto-*` features; BENCHMARKS.md,
//! "Crypto backend").
//!
//! Inputs are made with GnuPG beforehand (not timed): a gateway key and a reporter key
//! (ed25519 + cv25519, or RSA-4096), N messages of 4 KB encrypted to the gateway
//! (not signed), N signed by the reporter (not encrypted). Then, in one thread:
//! - `decrypt`: `crypto::open` of an encrypted 4 KB report;
//! - `verify`: `crypto::open` of a signed one (signature checked against the
//!   reporter's pre-loaded key);
//! - `seal`: `seal::sign_and_encrypt` of a 1.5 KB acknowledgement to the reporter;
//! - `random`: `sequoia_openpgp::crypto::random` of 32 bytes (what a session key,
//!   a signature's salt or an ephemeral key draws), 1,000 calls per round.
//!
//! Each operation runs `rounds` times over its N inputs; the median, min and max of the
//! rounds are printed, in ms per operation (µs for `random`).
//!
//! `cargo bench --bench crypto_ops -- 200 cv25519 3` (N, algorithm, rounds). For a
//! count of instructions that does not depend on the machine's load, run the built
//! bench under `valgrind --tool=callgrind` with `CRYPTO_OPS_ONLY=<op>` (only that
//! operation; `none` runs none, for the cost of the set-up).

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
use disclosured::testing::crypto::{KeySource, Keyring, SignatureStatus, open, seal};

#[path = "support/gpg.rs"]
mod gpg_support;
use gpg_support::{gen_key, gpg};

/// An RFC 5322 message whose text/plain body is the armored OpenPGP message.
fn mail(i: usize, armored: &[u8]) -> Vec<u8> {
    format!(
        "From: Alice <alice@example.net>\r\nTo: security@example.org\r\nSubject: Report {i}\r\nMessage-ID: <ops{i}@example.net>\r\nContent-Type: text/plain\r\n\r\n{}",
        String::from_utf8_lossy(armored)
    )
    .into_bytes()
}

/// The report text, about 4 KB, different for each message.
fn body(i: usize) -> String {
    let mut s = format!("Title: Report {i}\nVulnerability type: SQL injection\n\n");
    while s.len() < 4096 {
        s.push_str("Steps to reproduce: open /login, enter a quote, read the error.\n");
    }
    s
}

/// Runs `op` `rounds` times; returns the per-round seconds per operation, sorted.
fn time_rounds(rounds: usize, per_round: usize, mut op: impl FnMut()) -> Vec<f64> {
    let mut out: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            op();
            t.elapsed().as_secs_f64() / per_round as f64
        })
        .collect();
    out.sort_by(f64::total_cmp);
    out
}

fn report(name: &str, unit: &str, scale: f64, sorted: &[f64]) {
    let med = sorted[sorted.len() / 2] * scale;
    let min = sorted[0] * scale;
    let max = sorted[sorted.len() - 1] * scale;
    println!("  {name:<8} {med:8.3} {unit} (min {min:.3}, max {max:.3})");
}

fn main() {
    // As in the backlog bench: no backtraces captured for sequoia's internal errors.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        let status = Command::new(std::env::current_exe().unwrap())
            .args(std::env::args_os().skip(1))
            .env("RUST_LIB_BACKTRACE", "0")
            .status()
            .unwrap();
        std::process::exit(status.code().unwrap_or(1));
    }
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let algo = args.next().unwrap_or_else(|| "cv25519".into());
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let only = std::env::var("CRYPTO_OPS_ONLY").ok();
    let wanted = |op: &str| only.as_deref().is_none_or(|o| o == op);

    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::Builder::new()
        .prefix("go")
        .tempdir_in("/tmp")
        .unwrap();
    let root = dir.path();
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
    std::fs::write(
        root.join("keys/reporters/alice.asc"),
        gpg(home.path(), &["--armor", "--export", &alice], b""),
    )
    .unwrap();

    let encrypted: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let a = gpg(
                home.path(),
                &["--armor", "--encrypt", "-r", &gw],
                body(i).as_bytes(),
            );
            mail(i, &a)
        })
        .collect();
    let signed: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let a = gpg(
                home.path(),
                &["--armor", "--sign", "-u", &alice],
                body(i).as_bytes(),
            );
            mail(i, &a)
        })
        .collect();
    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(home.path())
        .args(["--kill", "all"])
        .status();

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
    let limits = Limits::default();
    let ack = vec![b'a'; 1500];

    println!(
        "crypto_ops {algo}: {n} inputs, {rounds} rounds, one thread; median (min, max) per operation"
    );
    if wanted("decrypt") {
        let t = time_rounds(rounds, n, || {
            for raw in &encrypted {
                let o = open(raw, &keyring, &lookup, &[], &limits).unwrap();
                assert!(o.encrypted && o.text().len() >= 4096);
            }
        });
        report("decrypt", "ms", 1e3, &t);
    }
    if wanted("verify") {
        let t = time_rounds(rounds, n, || {
            for raw in &signed {
                let o = open(raw, &keyring, &lookup, &[], &limits).unwrap();
                assert_eq!(o.signature, SignatureStatus::Good);
            }
        });
        report("verify", "ms", 1e3, &t);
    }
    if wanted("seal") {
        let t = time_rounds(rounds, n, || {
            for _ in 0..n {
                let sealed = seal::sign_and_encrypt(&keyring, &[&reporter], &ack).unwrap();
                assert!(sealed.len() > ack.len());
            }
        });
        report("seal", "ms", 1e3, &t);
    }
    if wanted("random") {
        let mut buf = [0u8; 32];
        let t = time_rounds(rounds, 1000, || {
            for _ in 0..1000 {
                sequoia_openpgp::crypto::random(&mut buf).unwrap();
            }
        });
        assert_ne!(buf, [0u8; 32]);
        report("random", "µs", 1e6, &t);
    }
}
