//! The program a bench times, run under another one when an environment variable
//! names it (a profiler, heaptrack, a script that keeps a copy of the inputs).

use std::process::Command;

/// `program`, or the words of `$var` followed by `program` when `$var` is set, e.g.
/// `BACKLOG_WRAP="perf record -g -o /tmp/backlog.perf --"`.
pub fn wrapped(var: &str, program: &str) -> Command {
    let wrap = std::env::var(var).unwrap_or_default();
    let mut words = wrap.split_whitespace();
    match words.next() {
        Some(first) => {
            let mut c = Command::new(first);
            c.args(words).arg(program);
            c
        }
        None => Command::new(program),
    }
}
