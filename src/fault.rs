//! A fault hook for the tests of what happens when a message or a delivery job stops
//! the daemon (issue 21): compiled into debug builds only, and active only when the
//! environment variable [`ENV`] is set, so no mail can make a release binary hang or
//! abort.
//!
//! A line `X-Test-Fault: <fault>` (the whole value, nothing after it) asks for one:
//!
//! - in a message: `hang` blocks the thread that decides it for good, as a parser
//!   caught in a loop would; `abort` ends the process at once, as a stack overflow
//!   or a failed allocation would.
//! - in a report's text: `hang-delivery` and `abort-delivery` do the same while the
//!   delivery of a job about that report (its acknowledgement) is in hand.
//!
//! Used by the intake (`pipeline`) and the delivery rounds (`outbox`), so it sits
//! beside them rather than in either.

/// Set (to anything) to arm the hook in a debug build.
#[cfg(debug_assertions)]
pub(crate) const ENV: &str = "DISCLOSURED_TEST_FAULTS";

/// What a `X-Test-Fault:` line asks for.
#[cfg(debug_assertions)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Hang,
    Abort,
}

/// The fault `text` asks for with a line `X-Test-Fault: hang<suffix>` or
/// `X-Test-Fault: abort<suffix>`.
#[cfg(debug_assertions)]
fn asked(text: &[u8], suffix: &str) -> Option<Fault> {
    String::from_utf8_lossy(text).lines().find_map(|line| {
        let (name, value) = line.trim().split_once(':')?;
        if !name.trim().eq_ignore_ascii_case("x-test-fault") {
            return None;
        }
        match value.trim().strip_suffix(suffix)? {
            "hang" => Some(Fault::Hang),
            "abort" => Some(Fault::Abort),
            _ => None,
        }
    })
}

#[cfg(debug_assertions)]
fn act(fault: Option<Fault>, what: &str) {
    if std::env::var_os(ENV).is_none() {
        return;
    }
    match fault {
        None => {}
        Some(Fault::Hang) => {
            tracing::warn!("test fault hook: this thread hangs now ({what})");
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
        Some(Fault::Abort) => {
            tracing::warn!("test fault hook: the process aborts now ({what})");
            std::process::abort();
        }
    }
}

/// Hangs the calling thread or aborts the process when the hook is armed and the raw
/// message asks for it (`hang`, `abort`).
#[cfg(debug_assertions)]
pub(crate) fn message(raw: &[u8]) {
    act(asked(raw, ""), "deciding a message");
}

/// Hangs the calling thread or aborts the process when the hook is armed and the
/// text of the report a delivery job is about asks for it (`hang-delivery`,
/// `abort-delivery`).
#[cfg(debug_assertions)]
pub(crate) fn delivery(report_text: &[u8]) {
    act(asked(report_text, "-delivery"), "delivering a job");
}

/// Whether the hook is armed (a debug build with [`ENV`] set): the delivery side
/// reads a report's text only then.
pub(crate) fn armed() -> bool {
    #[cfg(debug_assertions)]
    {
        std::env::var_os(ENV).is_some()
    }
    #[cfg(not(debug_assertions))]
    {
        false
    }
}

/// Release builds carry no hook.
#[cfg(not(debug_assertions))]
pub(crate) fn message(_raw: &[u8]) {}

/// Release builds carry no hook.
#[cfg(not(debug_assertions))]
pub(crate) fn delivery(_report_text: &[u8]) {}

#[cfg(all(test, debug_assertions))]
mod tests {
    use super::*;

    #[test]
    fn only_the_whole_value_asks_for_a_fault() {
        for (text, suffix, want) in [
            (&b"X-Test-Fault: hang\r\n"[..], "", Some(Fault::Hang)),
            (b"a\nx-test-fault:abort\n", "", Some(Fault::Abort)),
            (b"X-Test-Fault: hang-delivery\n", "", None),
            (
                b"X-Test-Fault: hang-delivery\n",
                "-delivery",
                Some(Fault::Hang),
            ),
            (
                b"X-Test-Fault: abort-delivery",
                "-delivery",
                Some(Fault::Abort),
            ),
            (b"X-Test-Fault: hang\n", "-delivery", None),
            (b"X-Test-Fault: hangs\n", "", None),
            (b"Subject: X-Test-Fault: hang\n", "", None),
        ] {
            assert_eq!(
                asked(text, suffix),
                want,
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }
}

/// Set to a number of seconds to make every backup hold the store that long (debug
/// builds only): the tests of a backup that outlasts the stall limit.
#[cfg(debug_assertions)]
pub(crate) const SLOW_BACKUP_ENV: &str = "DISCLOSURED_TEST_SLOW_BACKUP";

/// Waits as [`SLOW_BACKUP_ENV`] asks, while a backup holds the store's writes.
pub(crate) fn slow_backup() {
    #[cfg(debug_assertions)]
    if let Some(secs) = std::env::var(SLOW_BACKUP_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        tracing::warn!(secs, "test fault hook: this backup takes longer");
        std::thread::sleep(std::time::Duration::from_secs(secs.min(60)));
    }
}

/// Set to a number of milliseconds to make each record the migration to sealed
/// records rewrites take that long (debug builds only): the test that kills the
/// migration at random points needs it to last.
#[cfg(debug_assertions)]
pub(crate) const SLOW_MIGRATION_ENV: &str = "DISCLOSURED_TEST_SLOW_MIGRATION_MS";

/// Waits as [`SLOW_MIGRATION_ENV`] asks, before each record the migration rewrites.
pub(crate) fn migration_step() {
    #[cfg(debug_assertions)]
    if let Some(ms) = std::env::var(SLOW_MIGRATION_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms.min(1000)));
    }
}

/// Set to a comma-separated list of durability steps to make them fail (debug builds
/// only): `intake-flush`, the one store flush that makes a batch of messages' outcomes
/// durable before they leave the inbox; `outbox-sync`, the file transport's one sync
/// of a delivery batch, before its messages take their names. The tests of what a
/// failed step holds back.
#[cfg(debug_assertions)]
pub(crate) const FAIL_ENV: &str = "DISCLOSURED_TEST_FAIL";

/// Whether [`FAIL_ENV`] asks the durability step `step` to fail.
pub(crate) fn fail(step: &str) -> bool {
    #[cfg(debug_assertions)]
    {
        let asked = std::env::var(FAIL_ENV).is_ok_and(|v| v.split(',').any(|s| s.trim() == step));
        if asked {
            tracing::warn!(step, "test fault hook: this durability step fails");
        }
        asked
    }
    #[cfg(not(debug_assertions))]
    {
        let _ = step;
        false
    }
}
