//! Records the commit the binary was built from, for `disclosured --version`.

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let text = match commit {
        Some(c) => format!("commit {c}"),
        // A source tarball without .git.
        None => "commit unknown".to_string(),
    };
    println!("cargo:rustc-env=DISCLOSURED_COMMIT={text}");
    // Rebuild when HEAD moves (a commit or a checkout).
    if std::path::Path::new(".git/HEAD").exists() {
        println!("cargo:rerun-if-changed=.git/HEAD");
    }
    if let Ok(head) = std::fs::read_to_string(".git/HEAD")
        && let Some(r) = head.strip_prefix("ref: ")
    {
        let r = format!(".git/{}", r.trim());
        if std::path::Path::new(&r).exists() {
            println!("cargo:rerun-if-changed={r}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
