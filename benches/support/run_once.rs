//! `disclosured run-once` as the benches time it: the release binary, optionally run
//! under another program named by an environment variable (a profiler, heaptrack, a
//! script that keeps a copy of the inputs), and the figures of its own log.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// One finished `run-once`: its wall time and its log.
pub struct RunOnce {
    pub wall: f64,
    pub log: String,
}

impl RunOnce {
    /// The last `name=value` the log printed, as a number (NaN when absent).
    pub fn field(&self, name: &str) -> f64 {
        self.log
            .lines()
            .rev()
            .find_map(|l| l.split(&format!("{name}=")).nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    }
}

/// Runs `run-once` on `config`, under the words of `$wrap_var` when it is set (e.g.
/// `BACKLOG_WRAP="perf record -g -o /tmp/backlog.perf --"`); panics when it fails.
pub fn run_once(wrap_var: &str, config: &Path) -> RunOnce {
    let program = env!("CARGO_BIN_EXE_disclosured");
    let wrap = std::env::var(wrap_var).unwrap_or_default();
    let mut words = wrap.split_whitespace();
    let mut cmd = match words.next() {
        Some(first) => {
            let mut c = Command::new(first);
            c.args(words).arg(program);
            c
        }
        None => Command::new(program),
    };
    let t = Instant::now();
    let out = cmd
        .arg("--config")
        .arg(config)
        .arg("run-once")
        .env("RUST_LOG", "warn,disclosured=info")
        .output()
        .unwrap();
    let wall = t.elapsed().as_secs_f64();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    RunOnce { wall, log }
}
