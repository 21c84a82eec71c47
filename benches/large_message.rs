//! One large encrypted report: peak RSS and wall time of `run-once` on it.
//!
//! The report is PGP/MIME (RFC 3156): a text part and an attachment of MB megabytes
//! (10^6 bytes) of incompressible data, base64 in 76-character lines, encrypted to the
//! gateway (Cv25519) and signed by a pre-loaded reporter key with GnuPG (not timed).
//! Encrypted and armored, the message is about 35% larger than the attachment, which
//! is over the default `max_message_bytes` (25 MiB): the bench raises
//! `max_message_bytes` and `max_attachment_bytes` to 64 MiB and
//! `max_decompressed_bytes` to 128 MiB so the report is accepted, and checks it was.
//! Each run starts from a fresh store and Maildir; the figures are run-once's own wall
//! time and the peak RSS (VmHWM) from its "pass complete" log line.
//!
//! `cargo bench --bench large_message -- 25 3` (attachment MB, runs).

#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use base64::Engine as _;

#[path = "support/gpg.rs"]
mod gpg_support;
#[path = "support/run_once.rs"]
mod run_support;
use gpg_support::gpg;

fn gen_key(home: &Path, uid: &str) -> String {
    gpg(
        home,
        &["--quick-gen-key", uid, "ed25519", "sign", "never"],
        b"",
    );
    let out = String::from_utf8(gpg(home, &["--with-colons", "--list-keys", uid], b"")).unwrap();
    let fpr = out
        .lines()
        .find(|l| l.starts_with("fpr:"))
        .unwrap()
        .split(':')
        .nth(9)
        .unwrap()
        .to_string();
    gpg(
        home,
        &["--quick-add-key", &fpr, "cv25519", "encr", "never"],
        b"",
    );
    fpr
}

/// Incompressible bytes (xorshift64*), so compression does not shrink the message.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mb: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(25);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);

    let home = tempfile::Builder::new()
        .prefix("gl")
        .tempdir_in("/tmp")
        .unwrap();
    let gw = gen_key(home.path(), "Gateway <security@example.org>");
    let alice = gen_key(home.path(), "Alice <alice@example.net>");
    let secret = gpg(home.path(), &["--armor", "--export-secret-keys", &gw], b"");
    let alice_pub = gpg(home.path(), &["--armor", "--export", &alice], b"");

    let t = Instant::now();
    let attachment = noise(mb * 1_000_000);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&attachment);
    let mut inner = String::with_capacity(b64.len() * 78 / 76 + 4096);
    inner.push_str("Content-Type: multipart/mixed; boundary=\"inner-b\"\r\n\r\n--inner-b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nTitle: Heap overflow in the image decoder\r\nAffected versions: 2.3.1\r\n\r\nThe attached file crashes the decoder.\r\n");
    inner.push_str("\r\n--inner-b\r\nContent-Type: application/octet-stream; name=\"crash.bin\"\r\nContent-Disposition: attachment; filename=\"crash.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    for line in b64.as_bytes().chunks(76) {
        inner.push_str(std::str::from_utf8(line).unwrap());
        inner.push_str("\r\n");
    }
    inner.push_str("\r\n--inner-b--\r\n");
    drop(b64);
    let armored = gpg(
        home.path(),
        &["--armor", "--encrypt", "--sign", "-r", &gw, "-u", &alice],
        inner.as_bytes(),
    );
    drop(inner);
    let mut raw = String::from(
        "From: Alice <alice@example.net>\r\nTo: security@example.org\r\nSubject: ...\r\nMessage-ID: <large@example.net>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"enc-b\"\r\n\r\nThis is an OpenPGP/MIME encrypted message (RFC 3156).\r\n--enc-b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n--enc-b\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\nContent-Disposition: inline; filename=\"encrypted.asc\"\r\n\r\n",
    );
    raw.push_str(String::from_utf8_lossy(&armored).trim_end());
    raw.push_str("\r\n--enc-b--\r\n");
    drop(armored);
    let raw = raw.into_bytes();
    eprintln!(
        "made a {:.1} MB message with a {mb} MB attachment with gpg in {:.1} s",
        raw.len() as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    let mut walls = Vec::new();
    let mut rss = Vec::new();
    let mut phases = Vec::new();
    for _ in 0..runs {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("keys/reporters")).unwrap();
        std::fs::create_dir_all(root.join("inbox/new")).unwrap();
        std::fs::create_dir_all(root.join("inbox/tmp")).unwrap();
        let key = root.join("keys/gateway.asc");
        std::fs::write(&key, &secret).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(root.join("keys/reporters/alice.asc"), &alice_pub).unwrap();
        std::fs::write(root.join("inbox/new/000001.large"), &raw).unwrap();
        let config = root.join("disclosured.toml");
        std::fs::write(
            &config,
            format!(
                "[gateway]\naddress = \"security@example.org\"\n[inbox]\npath = \"{r}/inbox\"\n[outbox]\npath = \"{r}/outbox\"\n[store]\npath = \"{r}/state\"\n[keys]\ndir = \"{r}/keys\"\n[limits]\nmax_message_bytes = 67108864\nmax_attachment_bytes = 67108864\nmax_decompressed_bytes = 134217728\n",
                r = root.display()
            ),
        )
        .unwrap();
        // LARGE_WRAP runs run-once under another program, e.g.
        // LARGE_WRAP="heaptrack -o /tmp/ht".
        let run = run_support::run_once("LARGE_WRAP", &config);
        let (wall, log) = (run.wall, &run.log);
        let field = |name: &str| run.field(name);
        assert_eq!(field("reports") as usize, 1, "not accepted: {log}");
        walls.push(wall);
        rss.push(field("peak_rss_kib") / 1024.0);
        phases.push((field("intake_ms"), field("deliver_ms"), field("cpu_ms")));
    }
    let mut sorted = walls.clone();
    sorted.sort_by(f64::total_cmp);
    let mut rss_sorted = rss.clone();
    rss_sorted.sort_by(f64::total_cmp);
    let msg_mib = raw.len() as f64 / 1048576.0;
    println!(
        "large_message: {:.1} MiB message ({mb} MB attachment), {runs} runs",
        msg_mib
    );
    for (i, ((w, r), (intake, deliver, cpu))) in walls.iter().zip(&rss).zip(&phases).enumerate() {
        println!(
            "  run {}: {w:.2} s wall (intake {intake} ms, delivery {deliver} ms, CPU {cpu} ms), peak RSS {r:.0} MiB",
            i + 1
        );
    }
    println!(
        "  wall: median {:.2} s (min {:.2}, max {:.2})",
        sorted[runs / 2],
        sorted[0],
        sorted[runs - 1]
    );
    println!(
        "  peak RSS: median {:.0} MiB (min {:.0}, max {:.0}) = {:.1}x the message",
        rss_sorted[runs / 2],
        rss_sorted[0],
        rss_sorted[runs - 1],
        rss_sorted[runs / 2] / msg_mib
    );
    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(home.path())
        .args(["--kill", "all"])
        .status();
}
