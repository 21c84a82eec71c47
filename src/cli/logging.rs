//! Where log lines go and what they look like: the human format on a terminal or a
//! file, a journald-friendly one when systemd connected stderr to the journal.
//!
//! Under systemd every line of stderr becomes a journal entry that journald stamps
//! itself, so a timestamp of ours would only be repeated, and ANSI colours would show
//! as escape codes. Each line instead starts with the `<N>` syslog priority prefix
//! (sd-daemon(3)), which journald strips and turns into the entry's PRIORITY, so
//! `journalctl -p warning -u disclosured` shows warnings and errors only. This keeps
//! logging on stderr (no socket to reach from inside the sandbox, no extra crate),
//! and the level stays visible in the text for `journalctl -o cat` and for anyone
//! reading a copy of the log.
//!
//! Dependencies never log below INFO, whatever `RUST_LOG` says: at DEBUG html5ever
//! logs every token of an HTML report (the report's text), and at TRACE async-imap
//! logs each protocol line, LOGIN with its password and fetched messages included.
//! Only disclosured's own events, which log sizes, fingerprints and outcomes and
//! never content or secrets, follow `RUST_LOG` down to DEBUG and TRACE.

use std::io::Write;

use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

/// Our own crate: the only events allowed below INFO.
const OWN_TARGET: &str = "disclosured";

/// Installs the global subscriber: `RUST_LOG` if set, else `default`.
pub(crate) fn init(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let cap = filter_fn(|meta| {
        *meta.level() <= Level::INFO
            || meta.target() == OWN_TARGET
            || meta.target().starts_with("disclosured::")
    });
    let layer = if journal_stream() {
        fmt::layer()
            .with_writer(JournalWriter)
            .without_time()
            .with_ansi(false)
            .with_target(false)
            .boxed()
    } else {
        fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_target(false)
            .boxed()
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(layer.with_filter(cap))
        .try_init();
}

/// Prints `text` on stderr: as error-priority lines when stderr is the journal, as it
/// is otherwise.
pub(crate) fn print_error(text: &str) {
    if journal_stream() {
        let line = JournalLine {
            priority: priority(&Level::ERROR),
            buf: format!("{text}\n").into_bytes(),
        };
        drop(line);
    } else {
        eprintln!("{text}");
    }
}

/// Whether stderr is connected to the journal: systemd sets `$JOURNAL_STREAM` to the
/// device and inode of that stream. A child process inherits the variable with stderr
/// redirected elsewhere, so the numbers must match stderr's (systemd.exec(5)).
fn journal_stream() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = value.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    match rustix::fs::fstat(std::io::stderr()) {
        Ok(st) => st.st_dev == dev && st.st_ino == ino,
        Err(_) => false,
    }
}

/// The syslog priority journald reads from a `<N>` line prefix.
fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// Writes each event to stderr with a priority prefix on every line (journald makes
/// one entry per line, and a continuation line without a prefix would be logged at
/// the default priority).
struct JournalWriter;

impl<'a> MakeWriter<'a> for JournalWriter {
    type Writer = JournalLine;

    fn make_writer(&'a self) -> JournalLine {
        JournalLine::new(6)
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> JournalLine {
        JournalLine::new(priority(meta.level()))
    }
}

/// One event, collected and written with one `write` on drop so that lines of events
/// from different threads never interleave.
struct JournalLine {
    priority: u8,
    buf: Vec<u8>,
}

impl JournalLine {
    fn new(priority: u8) -> JournalLine {
        JournalLine {
            priority,
            buf: Vec::new(),
        }
    }

    fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.buf.len() + 8);
        let text = String::from_utf8_lossy(&self.buf);
        for (n, line) in text.lines().enumerate() {
            // The fmt layer pads levels to five columns (" INFO"); the prefix already
            // starts the line. Later lines keep their indentation.
            let line = if n == 0 { line.trim_start() } else { line };
            if line.trim().is_empty() {
                continue;
            }
            out.extend_from_slice(format!("<{}>{line}\n", self.priority).as_bytes());
        }
        out
    }
}

impl Write for JournalLine {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for JournalLine {
    fn drop(&mut self) {
        let out = self.render();
        // Nowhere to report a failure to write the log.
        let _ = std::io::stderr().lock().write_all(&out);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn every_line_gets_the_priority_prefix() {
        let mut line = JournalLine::new(4);
        line.write_all(b" WARN message deferred error=first\n  second line\n\n")
            .unwrap();
        assert_eq!(
            String::from_utf8(line.render()).unwrap(),
            "<4>WARN message deferred error=first\n<4>  second line\n"
        );
        line.buf.clear();
    }

    #[test]
    fn levels_map_to_syslog_priorities() {
        assert_eq!(priority(&Level::ERROR), 3);
        assert_eq!(priority(&Level::WARN), 4);
        assert_eq!(priority(&Level::INFO), 6);
        assert_eq!(priority(&Level::DEBUG), 7);
        assert_eq!(priority(&Level::TRACE), 7);
    }
}
