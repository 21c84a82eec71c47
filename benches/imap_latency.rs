//! Latency from IMAP APPEND to the acknowledgement accepted by the SMTP server, with
//! the daemon in IDLE: Dovecot and aiosmtpd on 127.0.0.1, the release binary, N
//! reports appended one at a time by a separate client. Prints p50, p95, min and max.
//!
//! Run with `make bench` (or `cargo bench --bench imap_latency -- 200`).

#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../tests/integration/servers.rs"]
mod servers;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, UNIX_EPOCH};

fn main() {
    let count: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);
    let imap = servers::Dovecot::start();
    let smtp = servers::SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display();
    let config = dir.path().join("disclosured.toml");
    std::fs::write(
        &config,
        format!(
            r#"[gateway]
address = "security@example.org"
[inbox]
kind = "imap"
host = "127.0.0.1"
port = {}
tls = "implicit"
username = "{}"
password_file = "{}"
ca_file = "{}"
[outbox]
kind = "smtp"
host = "127.0.0.1"
port = {}
tls = "starttls"
username = "{}"
password_file = "{}"
ca_file = "{}"
[store]
path = "{root}/state"
[keys]
dir = "{root}/keys"
# Every report comes from one sender: the default limit (10 an hour) would leave
# all but ten unanswered.
[rate_limits]
per_sender = 1000000
per_domain = 1000000
global = 1000000
"#,
            imap.imaps_port(),
            imap.user(),
            imap.password_file().display(),
            imap.ca_file().display(),
            smtp.port(),
            smtp.user(),
            smtp.password_file().display(),
            smtp.ca_file().display(),
        ),
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_disclosured");
    let keygen = Command::new(bin)
        .args(["--config", config.to_str().unwrap(), "keys", "generate"])
        .output()
        .unwrap();
    assert!(keygen.status.success());
    let mut daemon = Command::new(bin)
        .args(["--config", config.to_str().unwrap(), "serve"])
        .env(
            "RUST_LOG",
            std::env::var("BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Connected and in IDLE.
    std::thread::sleep(Duration::from_secs(2));

    let appender = Command::new(servers::PYTHON)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/benches/imap_append.py"
        ))
        .args([
            &imap.imaps_port().to_string(),
            imap.ca_file().to_str().unwrap(),
            imap.user(),
            imap.password_file().to_str().unwrap(),
            &count.to_string(),
            "0.2",
        ])
        .output()
        .unwrap();
    assert!(
        appender.status.success(),
        "{}",
        String::from_utf8_lossy(&appender.stderr)
    );
    let sent: BTreeMap<String, f64> = String::from_utf8(appender.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (n, t) = l.split_once(' ').unwrap();
            (format!("<bench-{n}@example.net>"), t.parse().unwrap())
        })
        .collect();

    let deadline = Instant::now() + Duration::from_secs(120);
    let mut latencies = Vec::new();
    while Instant::now() < deadline {
        latencies.clear();
        for entry in std::fs::read_dir(smtp.out_dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "eml") {
                continue;
            }
            let raw = std::fs::read_to_string(&path).unwrap();
            let Some(parent) = raw
                .lines()
                .find_map(|l| l.strip_prefix("In-Reply-To: "))
                .map(str::trim)
            else {
                continue;
            };
            let accepted = std::fs::metadata(&path)
                .unwrap()
                .modified()
                .unwrap()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs_f64();
            if let Some(t0) = sent.get(parent) {
                latencies.push(accepted - t0);
            }
        }
        if latencies.len() >= count {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let _ = daemon.wait();
    assert_eq!(latencies.len(), count, "not every report was acknowledged");
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize] * 1000.0;
    println!(
        "imap_latency: {count} reports, APPEND -> acknowledgement accepted by SMTP: p50 {:.0} ms, p95 {:.0} ms, min {:.0} ms, max {:.0} ms",
        pct(0.5),
        pct(0.95),
        latencies[0] * 1000.0,
        latencies[latencies.len() - 1] * 1000.0
    );
}
