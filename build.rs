//! Records the commit the binary was built from, for `disclosured --version`.

use std::process::Command;

/// `git` with these arguments, its trimmed output when it succeeds.
fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    let text = match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(c) => format!("commit {c}"),
        // A source tarball without git history.
        None => "commit unknown".to_string(),
    };
    println!("cargo:rustc-env=DISCLOSURED_COMMIT={text}");
    // Rebuild when HEAD moves: HEAD itself (a checkout), the branch it points to (a
    // commit) and packed-refs, wherever git keeps them (a worktree's .git is a file).
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name])
            && let Ok(path) = std::path::Path::new(&path).canonicalize()
        {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
