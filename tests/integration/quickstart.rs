//! Issue 23, item 15: README's quick start works when pasted. `serve` runs on the
//! built-in configuration in an empty directory (as `make run` runs it in a checkout),
//! and the block README tells a new user to paste "in another terminal" is run as it
//! stands, by bash, against it: the report goes in, the answer comes back signed and
//! encrypted to the scratch key, and `reports list` shows it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The block after "Paste it as it is:" in README's quick start.
fn pasted_block() -> String {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let after = readme
        .split("Paste it as it is:")
        .nth(1)
        .expect("README's quick start has the block to paste");
    let body = after.split("```sh\n").nth(1).unwrap();
    body.split("\n```").next().unwrap().to_string()
}

#[test]
fn the_quick_start_works_when_pasted() {
    let dir = tempfile::Builder::new()
        .prefix("q")
        .tempdir_in("/tmp")
        .unwrap();
    let bin = env!("CARGO_BIN_EXE_disclosured");
    let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let mut serve = Command::new(bin)
        .arg("serve")
        .current_dir(dir.path())
        .env_remove("DISCLOSURED_CONFIG")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !std::fs::read_dir(dir.path().join("keys"))
        .map(|d| {
            d.filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().ends_with(".pub.asc"))
        })
        .unwrap_or(false)
        || !dir.path().join("var/inbox/new").is_dir()
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "serve did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let block = pasted_block().replace("./target/release/disclosured", bin);
    let scratch = dir.path().join("t");
    std::fs::create_dir(&scratch).unwrap();
    let mut shell = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &block])
        .current_dir(dir.path())
        .env("TMPDIR", &scratch)
        .env_remove("GNUPGHOME")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = shell.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = shell.kill();
            let _ = serve.kill();
            panic!(
                "the pasted quick start did not finish within 120 s; serve's log: {}",
                std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = shell.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    // The scratch GnuPG homes' agents.
    for home in std::fs::read_dir(&scratch).unwrap().filter_map(Result::ok) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(home.path())
            .args(["--kill", "all"])
            .status();
    }
    let _ = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status();
    let _ = serve.wait();
    assert!(
        status.success(),
        "the pasted block failed: {stderr}\n{stdout}"
    );
    // The acknowledgement, decrypted by the researcher's scratch key, repeats the
    // report's title, and gpg verified the gateway's signature.
    assert!(stdout.contains("XSS in search"), "{stdout}\n{stderr}");
    assert!(stderr.contains("Good signature"), "{stderr}");
    assert!(stdout.contains("VR-"), "reports list: {stdout}");
}
