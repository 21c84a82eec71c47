//! What sealing costs per report (issue 28), measured directly: a report of the
//! backlog benchmark's size stored through the library in a store that seals and in
//! one that writes in clear (as before sealing), each report with its acknowledgement
//! job, flushed in batches as `run-once` does. The difference is the sealing: a data
//! key taken from the key pool (a batch of 256 filled and synced at a time), and the
//! report, its head and its job sealed. Then each store is opened again and every
//! head read once, as listings do: sealed, each data key is read from the pool.
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
    let c = disclosured::testing::store::seal_cost(n);
    let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / n as f64;
    println!("seal_cost: {n} reports per store");
    println!("  clear:  {:8.1} us per report", per(c.clear_store));
    println!("  sealed: {:8.1} us per report", per(c.sealed_store));
    println!(
        "  sealing: {:8.1} us per report",
        per(c.sealed_store.saturating_sub(c.clear_store))
    );
    println!("  listing every head after a new open (each_report_head):");
    println!("    clear:  {:8.1} us per report", per(c.clear_list));
    println!("    sealed: {:8.1} us per report", per(c.sealed_list));
}
