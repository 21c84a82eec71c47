//! What sealing costs per report (issue 28), measured directly: a report of the
//! backlog benchmark's size stored through the library in a store that seals and in
//! one that writes in clear (as before sealing), each report with its acknowledgement
//! job, flushed in batches as `run-once` does. The difference is the sealing: the
//! data key made, wrapped and written (a file, synced), and the report, its head and
//! its job sealed.
//!
//! `cargo bench --bench seal_cost -- 2000` (reports per store; default 1000).

#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let (clear, sealed) = disclosured::testing::store::seal_cost(n);
    let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / n as f64;
    println!("seal_cost: {n} reports per store");
    println!("  clear:  {:8.1} us per report", per(clear));
    println!("  sealed: {:8.1} us per report", per(sealed));
    println!(
        "  sealing: {:8.1} us per report",
        per(sealed.saturating_sub(clear))
    );
}
