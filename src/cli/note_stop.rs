//! `note-stop`: systemd's `ExecStopPost=` command. It reads how the service's main
//! process ended (`$SERVICE_RESULT`, `$EXIT_CODE`, `$EXIT_STATUS`, see
//! systemd.exec(5)) and, when that was a crash, records a stop for what the dead
//! daemon had in hand (see `store::inhand`), so that a message or delivery job that
//! crashes the daemon twice is set aside at the next starts.
//!
//! It must never fail the unit nor hold it up: every error is a log line and the exit
//! status is 0; the work is given [`LIMIT`], then abandoned.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use tracing::{error, info, warn};

use crate::config::Settings;

/// How long `note-stop` may take before it gives up (a store that does not open).
const LIMIT: Duration = Duration::from_secs(10);

/// The signals that end a process which failed on its own (a stack overflow, an
/// abort, a bad instruction), not one stopped by someone: SIGKILL, SIGTERM, SIGINT
/// and SIGHUP are an operator's or the system's, and record nothing.
const CRASH_SIGNALS: [&str; 7] = ["SEGV", "ABRT", "BUS", "ILL", "FPE", "SYS", "TRAP"];

/// How the process ended, when systemd's variables say it crashed; `None` for a
/// clean stop, an exit with a status, or a kill from outside.
pub(crate) fn crash(
    service_result: Option<&str>,
    exit_code: Option<&str>,
    exit_status: Option<&str>,
) -> Option<String> {
    let signal = exit_status.map(|s| s.trim().trim_start_matches("SIG").to_ascii_uppercase());
    let signal = signal.as_deref().unwrap_or("?");
    let by_signal = match exit_code {
        Some("dumped") => Some(format!("killed by SIG{signal} (core dumped)")),
        Some("killed") if CRASH_SIGNALS.contains(&signal) => Some(format!("killed by SIG{signal}")),
        _ => None,
    };
    let by_result = match service_result {
        Some("watchdog") => Some("stopped by systemd's watchdog".to_string()),
        Some("oom-kill") => Some("killed by the OOM killer".to_string()),
        Some("core-dump") => Some("dumped core".to_string()),
        _ => None,
    };
    match (by_result, by_signal) {
        (Some(r), Some(s)) => Some(format!("{r}, {s}")),
        (Some(one), None) | (None, Some(one)) => Some(one),
        (None, None) => None,
    }
}

/// Runs `note-stop`: always succeeds, says what it did in the log.
pub(crate) fn run(config: Option<&Path>) -> ExitCode {
    let var = |name: &str| std::env::var(name).ok();
    let (result, code, status) = (var("SERVICE_RESULT"), var("EXIT_CODE"), var("EXIT_STATUS"));
    let Some(how) = crash(result.as_deref(), code.as_deref(), status.as_deref()) else {
        info!(
            service_result = result.as_deref().unwrap_or("-"),
            exit_code = code.as_deref().unwrap_or("-"),
            exit_status = status.as_deref().unwrap_or("-"),
            "the daemon did not crash: nothing to record"
        );
        return ExitCode::SUCCESS;
    };
    let config = config.map(Path::to_path_buf);
    let (tx, rx) = std::sync::mpsc::channel();
    let how_ = how.clone();
    // A thread of its own, so that a store that does not open cannot hold the unit
    // up past the limit: at the limit the process exits and the thread with it.
    std::thread::spawn(move || {
        let _ = tx.send(record(config.as_deref(), &how_));
    });
    match rx.recv_timeout(LIMIT) {
        Ok(Ok(stopped)) if stopped.is_empty() => {
            info!(how = %how, "the daemon crashed with nothing in hand")
        }
        Ok(Ok(stopped)) => {
            for held in stopped {
                let what = held.kind.name();
                if held.set_aside() {
                    error!(kind = what, name = %held.name, stops = held.stops.len(), how = %how,
                        "the daemon crashed with this {what} in hand, for the second time: it is set aside at the next start");
                } else {
                    error!(kind = what, name = %held.name, stops = held.stops.len(), how = %how,
                        "the daemon crashed with this {what} in hand: it is tried again alone; a second crash sets it aside");
                }
            }
        }
        Ok(Err(e)) => error!(how = %how, error = %format!("{e:#}"), "cannot record the crash"),
        Err(_) => warn!(how = %how, limit_s = LIMIT.as_secs(), "cannot record the crash: gave up"),
    }
    ExitCode::SUCCESS
}

fn record(config: Option<&Path>, how: &str) -> anyhow::Result<Vec<crate::store::Held>> {
    let settings = Settings::load(config)?;
    let store = crate::pipeline::store_key::open_existing(&settings.store)?;
    Ok(store.note_crash(how)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::crash;

    /// systemd.exec(5)'s values for each way a service ends.
    #[test]
    fn only_a_crash_is_a_crash() {
        for (result, code, status, want) in [
            (Some("success"), Some("exited"), Some("0"), None),
            (Some("exit-code"), Some("exited"), Some("1"), None),
            (Some("signal"), Some("killed"), Some("KILL"), None),
            (Some("signal"), Some("killed"), Some("TERM"), None),
            (Some("success"), Some("killed"), Some("TERM"), None),
            (Some("signal"), Some("killed"), Some("INT"), None),
            (None, None, None, None),
            (
                Some("core-dump"),
                Some("dumped"),
                Some("ABRT"),
                Some("dumped core, killed by SIGABRT (core dumped)"),
            ),
            (
                Some("signal"),
                Some("killed"),
                Some("SEGV"),
                Some("killed by SIGSEGV"),
            ),
            (
                Some("signal"),
                Some("killed"),
                Some("SIGBUS"),
                Some("killed by SIGBUS"),
            ),
            (
                Some("watchdog"),
                Some("dumped"),
                Some("ABRT"),
                Some("stopped by systemd's watchdog, killed by SIGABRT (core dumped)"),
            ),
            (
                Some("watchdog"),
                Some("killed"),
                Some("KILL"),
                Some("stopped by systemd's watchdog"),
            ),
            (
                Some("oom-kill"),
                Some("killed"),
                Some("KILL"),
                Some("killed by the OOM killer"),
            ),
        ] {
            assert_eq!(
                crash(result, code, status).as_deref(),
                want,
                "{result:?} {code:?} {status:?}"
            );
        }
    }
}
