//! Issue 28: reports sealed at rest. Canaries in a report's body and attachment
//! (made by GnuPG as Alice sends them), in a maintainer's answer relayed to her, in
//! notes, in advisory details a maintainer sets and in the credit Alice chooses by
//! a signed reply are searched for, byte by byte, in every file of the store: found when
//! the store writes in clear (as before this change), never once it seals, and not
//! recoverable after `reports purge`, even with the store key and a copy of every
//! byte sled held before. A wrong or missing store key stops the gateway before it
//! reads or writes anything; a clear store is sealed in place under SIGKILLs.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use rand::{Rng, SeedableRng};

use crate::lifecycle::{Maintainer, Team, year};
use crate::pipeline::{entity, pgp_mime_encrypted};
use crate::util::*;

const CLEAR: &str = "DISCLOSURED_TEST_WRITE_CLEAR";

const CANARIES: [&str; 9] = [
    "body-canary-osprey",
    "name-canary-kestrel",
    "bytes-canary-heron",
    "relayed-canary-curlew",
    "mail-note-canary-plover",
    "cli-note-canary-dunlin",
    "summary-canary-wagtail",
    "remedy-canary-pipit",
    "credit-canary-wren",
];

/// The canaries found in any file under `dir`.
fn canaries_in(dir: &Path) -> Vec<&'static str> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                files.push(std::fs::read(&p).unwrap());
            }
        }
    }
    CANARIES
        .into_iter()
        .filter(|c| {
            files
                .iter()
                .any(|f| f.windows(c.len()).any(|w| w == c.as_bytes()))
        })
        .collect()
}

/// The Message-ID of `m`'s new-report notification of `id`.
fn notification(t: &Team, m: &Maintainer, id: &str) -> String {
    let n = t.mail_to(m.address, "New report");
    let n = n
        .iter()
        .find(|n| header(n, "Subject").unwrap().contains(id))
        .unwrap_or_else(|| panic!("no notification of {id} to {}", m.address));
    header(n, "Message-ID").unwrap()
}

/// Alice's report with an attachment, Bob's signed answer relayed to her with a
/// note, and a note from the command line, each carrying a canary; the report's ID.
fn canary_journey(t: &Team) -> String {
    let inner = entity(
        Some("report"),
        "Title: Canary overflow\n\nDescription:\nbody-canary-osprey in the parser.\n",
        &[(
            "name-canary-kestrel.py",
            "text/x-python",
            b"print('bytes-canary-heron')\n",
        )],
    );
    let armored = t.s.gpg.encrypt(&t.s.gateway_fpr, Some(&t.s.alice), &inner);
    t.s.gw.deliver(&pgp_mime_encrypted(
        &t.s.headers("<canary-1@example.net>", "..."),
        &armored,
    ));
    t.s.gw.run_once();
    let id = format!("VR-{}-0001", year());

    let answer = entity(
        Some(&format!("Re: [{id}] New report")),
        "X-NOTE: mail-note-canary-plover\n\nThanks, relayed-canary-curlew is reproduced.\n",
        &[],
    );
    let armored = t
        .bob
        .gpg
        .encrypt(&t.s.gateway_fpr, Some(t.bob.address), &answer);
    let root = notification(t, &t.bob, &id);
    let h = vec![
        ("From", "Bob Maintainer <bob@example.org>"),
        ("To", GATEWAY),
        ("Subject", "..."),
        ("Message-ID", "<bob-canary@example.org>"),
        ("MIME-Version", "1.0"),
        ("In-Reply-To", root.as_str()),
    ];
    t.s.gw.deliver(&pgp_mime_encrypted(&h, &armored));
    let log = t.s.gw.run_once();
    let (ok, _, err) = t.cli(&["reports", "set", &id, "--note", "cli-note-canary-dunlin"]);
    assert!(ok, "{err}");
    // Advisory details a maintainer sets, and the credit Alice chooses by a signed
    // reply to her acknowledgement.
    crate::advisory::set(
        t,
        &id,
        &[
            "--summary",
            "Overflow summary-canary-wagtail",
            "--remediation",
            "Upgrade, remedy-canary-pipit.",
        ],
    );
    crate::advisory::reply_from_alice(
        t,
        &t.s.gpg,
        Some(&t.s.alice),
        &crate::advisory::ack_id(t, &id),
        "<canary-credit@example.net>",
        "Thanks.\nCredit: Alice credit-canary-wren\n",
    );

    // Every canary is in the report as maintainers read it.
    let shown = serde_json::to_string(&t.show(&id)).unwrap();
    for c in [
        "body-canary-osprey",
        "name-canary-kestrel",
        "relayed-canary-curlew",
    ] {
        assert!(shown.contains(c), "{c} not in the report: {log}");
    }
    for c in ["mail-note-canary-plover", "cli-note-canary-dunlin"] {
        assert!(shown.contains(c), "{c} not in the report's events: {log}");
    }
    for c in [
        "summary-canary-wagtail",
        "remedy-canary-pipit",
        "credit-canary-wren",
    ] {
        assert!(
            shown.contains(c),
            "{c} not in the report's advisory details"
        );
    }
    id
}

fn copy_dir(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn issue_28_canaries_never_reach_the_store_files_and_a_purge_destroys_them() {
    let t = Team::new("");
    let id = canary_journey(&t);
    let state = t.s.gw.path("state");
    assert_eq!(canaries_in(&state), Vec::<&str>::new());

    // What sled held before the purge, byte for byte (its old log segments
    // included), kept by someone who copied the disk.
    let before = t.s.gw.path("state-copy");
    copy_dir(&state, &before);

    let (ok, out, err) = t.cli(&["reports", "purge", &id, "--reason", "test"]);
    assert!(
        !ok && err.contains("--yes"),
        "a purge without --yes: {out}{err}"
    );
    let (ok, out, err) = t.cli(&["reports", "purge", &id, "--reason", "test", "--yes"]);
    assert!(ok, "{err}");
    assert!(out.contains("purged"), "{out}");
    let (ok, _, err) = t.cli(&["reports", "show", &id]);
    assert!(!ok && err.contains("was purged"), "{err}");
    assert!(t.s.gw.reports().is_empty());
    assert_eq!(canaries_in(&state), Vec::<&str>::new());

    // The copy with the key files of today, opened with the store key: the report's
    // records are there, sealed, but its data key is gone.
    std::fs::remove_dir_all(before.join("sealed-keys")).unwrap();
    copy_dir(&state.join("sealed-keys"), &before.join("sealed-keys"));
    // (It may not even open: the first job it looks at is the purged report's.)
    let rid = disclosured::testing::store::ReportId::parse(&id).unwrap();
    let err = match disclosured::testing::store::Store::open(&before, &store_key(&t.s.gw)) {
        Err(e) => e.to_string(),
        Ok(old) => old
            .report(&rid)
            .expect_err("the purged report opened")
            .to_string(),
    };
    assert!(err.contains("purged"), "{err}");
}

#[test]
fn issue_28_the_same_journey_in_clear_leaves_every_canary_and_is_sealed_at_next_start() {
    let t = Team::new("");
    // Written as a version before sealing did.
    t.s.gw.set_env(CLEAR, Some("1"));
    let id = canary_journey(&t);
    let state = t.s.gw.path("state");
    assert_eq!(
        canaries_in(&state),
        CANARIES.to_vec(),
        "the search finds clear text"
    );
    assert!(!state.join("sealed-keys/check").exists());

    // This version opens it: sealed in place, nothing lost.
    t.s.gw.set_env(CLEAR, None);
    let shown = serde_json::to_string(&t.show(&id)).unwrap();
    for c in [
        "body-canary-osprey",
        "name-canary-kestrel",
        "relayed-canary-curlew",
    ] {
        assert!(shown.contains(c), "{c} lost by the migration");
    }
    assert!(state.join("sealed-keys/check").exists());
    assert_key_pool_only(&state);
    // The attachment is still there to save.
    let saved = t.s.gw.path("saved.py");
    let (ok, _, err) = t.cli(&[
        "reports",
        "attachment",
        &id,
        "1",
        "--out",
        saved.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert_eq!(
        std::fs::read(&saved).unwrap(),
        b"print('bytes-canary-heron')\n"
    );
}

fn plain_report(i: usize) -> Vec<u8> {
    message(
        &[
            ("From", &format!("Reporter {i} <r{i}@example.net>")),
            ("To", GATEWAY),
            ("Subject", &format!("Report {i}")),
            ("Message-ID", &format!("<m{i}@example.net>")),
        ],
        &format!(
            "Title: Migration test {i}\n\nDescription:\nmigration-canary-{i:03} in module {i}.\n"
        ),
    )
}

#[test]
fn issue_28_wrong_or_missing_store_key_stops_the_gateway_before_it_reads_or_writes() {
    let gw = Gateway::new();
    gw.deliver(&plain_report(1));
    gw.run_once();
    assert_eq!(gw.reports().len(), 1);
    let key_file = gw.path("keys/store-key");
    let good = std::fs::read_to_string(&key_file).unwrap();
    gw.deliver(&plain_report(2));

    // Another valid key.
    let other: String = good
        .trim()
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    write_private(&key_file, &format!("{other}\n"));
    let out = gw.cli(&["run-once"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("store key file")
            && err.contains("store-key")
            && err.contains("another store key"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(gw.path("inbox/new")).unwrap().count(),
        1,
        "nothing read"
    );

    // None at all: refused, and no new key is made for a sealed store.
    std::fs::remove_file(&key_file).unwrap();
    let out = gw.cli(&["run-once"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("store-key") && err.contains("missing"),
        "{err}"
    );
    assert!(
        !key_file.exists(),
        "a new store key was made for a sealed store"
    );
    let out = gw.cli(&["reports", "list"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));

    // A credential that is not there is named.
    add_store_setting(&gw, "key_credential = \"store-key\"");
    std::fs::create_dir(gw.path("credentials")).unwrap();
    let out = gw.cli(&["run-once"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("credential \"store-key\""), "{err}");
    assert_eq!(std::fs::read_dir(gw.path("inbox/new")).unwrap().count(), 1);

    // The right key as the credential: the waiting report is taken, nothing was lost.
    write_private(&gw.path("credentials/store-key"), &good);
    gw.run_once();
    assert_eq!(gw.reports().len(), 2);
}

/// Adds `line` to the `[store]` section of the test configuration.
fn add_store_setting(gw: &Gateway, line: &str) {
    let text = std::fs::read_to_string(&gw.config).unwrap();
    let text = text.replacen("[store]\n", &format!("[store]\n{line}\n"), 1);
    std::fs::write(&gw.config, text).unwrap();
}

#[test]
fn issue_28_a_clear_store_sealed_under_sigkill_at_random_points_loses_nothing() {
    const N: usize = 12;
    let gw = Gateway::new();
    gw.set_env(CLEAR, Some("1"));
    for i in 0..N {
        gw.deliver(&plain_report(i));
    }
    gw.run_once();
    assert_eq!(gw.reports().len(), N);
    let state = gw.path("state");
    gw.set_env(CLEAR, None);

    let seed: u64 = std::env::var("SEAL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("migration kill seed: {seed} (SEAL_SEED={seed} replays it)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // Each record the migration rewrites takes 60 ms (36 records: about 2 s); each
    // run is killed at a random moment of its first 0.8 s, until one finishes.
    gw.set_env("DISCLOSURED_TEST_SLOW_MIGRATION_MS", Some("60"));
    let mut kills = 0;
    for _ in 0..40 {
        let mut child = gw
            .command()
            .args(["reports", "list", "--json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.random_range(100..800)));
        if child.try_wait().unwrap().is_some() {
            break;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
    }
    gw.set_env("DISCLOSURED_TEST_SLOW_MIGRATION_MS", None);
    assert!(
        kills >= 2,
        "the migration was killed {kills} times only (seed {seed})"
    );
    eprintln!("{kills} kills during the migration");

    let reports = gw.reports();
    assert_eq!(reports.len(), N, "seed {seed}");
    for i in 0..N {
        let id = format!("VR-{}-{:04}", year(), i + 1);
        let shown = gw.json(&["reports", "show", &id, "--json"]);
        let body = shown["body"].as_str().unwrap_or_default().to_string();
        let all = serde_json::to_string(&shown).unwrap();
        assert!(
            all.contains("migration-canary-"),
            "{id} lost its text (seed {seed}): {body}"
        );
    }
    assert_key_pool_only(&state);
}

#[test]
fn issue_28_retention_purges_a_rejected_report_after_its_period_and_status_says_what_is_next() {
    let gw = Gateway::new();
    let mut config = std::fs::read_to_string(&gw.config).unwrap();
    config = config.replacen("[keys]", "[retention]\nrejected = \"1s\"\n[keys]", 1);
    std::fs::write(&gw.config, config).unwrap();
    gw.deliver(&plain_report(1));
    gw.deliver(&plain_report(2));
    gw.run_once();
    let first = format!("VR-{}-0001", year());
    let out = gw.cli(&[
        "reports",
        "set",
        &first,
        "--status",
        "rejected",
        "--reason",
        "out_of_scope",
        "--no-notify",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = String::from_utf8_lossy(&gw.cli(&["status"]).stdout).into_owned();
    assert!(
        status.contains("Retention:    rejected 0 days; 0 purged; next: ")
            && status.contains(&first),
        "{status}"
    );
    // The period (1 s) passes; the next round of scheduled work purges it.
    std::thread::sleep(Duration::from_millis(1500));
    gw.run_once();
    let (ids, _) = (
        gw.reports()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>(),
        (),
    );
    assert_eq!(
        ids,
        vec![format!("VR-{}-0002", year())],
        "only the open report stays"
    );
    let out = gw.cli(&["reports", "show", &first]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("was purged")
            && err.contains("by system")
            && err.contains("retention: rejected"),
        "{err}"
    );
    let status = String::from_utf8_lossy(&gw.cli(&["status"]).stdout).into_owned();
    assert!(status.contains("1 purged"), "{status}");
    let doctor = String::from_utf8_lossy(&gw.cli(&["doctor"]).stdout).into_owned();
    assert!(
        doctor.contains("retention") && doctor.contains("1 purged"),
        "{doctor}"
    );
}

/// The data keys are in the key pool, whole slots of it: no file per key.
fn assert_key_pool_only(state: &std::path::Path) {
    let mut names: Vec<String> = std::fs::read_dir(state.join("sealed-keys"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["check", "pool"], "the key directory holds");
    let len = std::fs::metadata(state.join("sealed-keys/pool"))
        .unwrap()
        .len();
    assert!(len > 16, "the pool holds keys");
}
