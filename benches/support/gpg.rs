//! The GnuPG runner the benches share: gpg in batch mode in a given home, input on
//! stdin, output returned; a failure panics (bench inputs are ours, not hostile).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

pub fn gpg(home: &Path, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gpg")
        .arg("--homedir")
        .arg(home)
        .args([
            "--batch",
            "--yes",
            "--no-tty",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            "--trust-model",
            "always",
        ])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert!(out.status.success(), "gpg {args:?}");
    out.stdout
}

/// The fingerprint of `who`'s key in `home`.
#[allow(dead_code)] // not every bench makes keys
pub fn fingerprint(home: &Path, who: &str) -> String {
    let out = String::from_utf8(gpg(home, &["--with-colons", "--list-keys", who], b"")).unwrap();
    out.lines()
        .find(|l| l.starts_with("fpr:"))
        .unwrap()
        .split(':')
        .nth(9)
        .unwrap()
        .to_string()
}

/// A signing primary key with an encryption subkey: ed25519 + cv25519, or RSA-4096
/// for both (GnuPG's `--quick-gen-key ... rsa4096 default` makes no encryption key).
#[allow(dead_code)] // not every bench makes keys
pub fn gen_key(home: &Path, uid: &str, algo: &str) -> String {
    let (primary, sub) = if algo == "rsa4096" {
        ("rsa4096", "rsa4096")
    } else {
        ("ed25519", "cv25519")
    };
    gpg(
        home,
        &["--quick-gen-key", uid, primary, "sign", "never"],
        b"",
    );
    let fpr = fingerprint(home, uid);
    gpg(home, &["--quick-add-key", &fpr, sub, "encr", "never"], b"");
    fpr
}
