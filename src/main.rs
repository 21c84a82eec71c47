//! The `disclosured` binary: everything lives in the library; this only reports the
//! error a command ends with.

/// jemalloc rather than glibc's malloc: it hands the memory of a large listing back to
/// the system (BENCHMARKS.md, "Store scale", sixth round); its settings are built in
/// from .cargo/config.toml.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    // Everything the gateway writes (store, keys, outgoing mail, backups) holds
    // report text or secrets: private to its user, whatever the umask it was
    // started with.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    match disclosured::main() {
        Ok(code) => code,
        Err(err) => {
            disclosured::report_error(&err);
            std::process::ExitCode::from(2)
        }
    }
}
