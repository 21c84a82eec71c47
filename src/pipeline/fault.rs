//! A fault hook for the tests of what happens when a message or job stops the
//! daemon (issue 21): compiled into debug builds only, and active only when the
//! environment variable [`ENV`] is set, so no mail can make a release binary hang.
//!
//! A message (or the text of an outgoing job) carrying the line
//! `X-Test-Fault: hang` blocks the thread that handles it for good, as a parser
//! caught in a loop would.

/// Set (to anything) to arm the hook in a debug build.
#[cfg(debug_assertions)]
pub(crate) const ENV: &str = "DISCLOSURED_TEST_FAULTS";

/// Hangs the calling thread when the hook is armed and `text` asks for it.
#[cfg(debug_assertions)]
pub(crate) fn maybe(text: &[u8]) {
    const HANG: &[u8] = b"X-Test-Fault: hang";
    if std::env::var_os(ENV).is_none() || !text.windows(HANG.len()).any(|w| w == HANG) {
        return;
    }
    tracing::warn!("test fault hook: this thread hangs now");
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

/// Release builds carry no hook.
#[cfg(not(debug_assertions))]
pub(crate) fn maybe(_text: &[u8]) {}
