//! The `disclosured` binary: everything lives in the library; this only reports the
//! error a command ends with.

fn main() -> std::process::ExitCode {
    match disclosured::cli::main() {
        Ok(code) => code,
        Err(err) => {
            disclosured::cli::report_error(&err);
            std::process::ExitCode::from(2)
        }
    }
}
