//! Issue 26, advisories: `disclosured advisory ID --format osv|csaf|cve` on a fixed report,
//! checked by the formats' own validators (check-jsonschema with the OSV schema, the BSI's
//! csaf-validator-lib with every mandatory test, cvelib's `cve validate`), each also shown
//! a broken document it must reject; no advisory before the fix but a marked draft; the
//! command through a running daemon. The rules around them (leaks, credits, details by
//! mail) are in [`crate::advisory_rules`], with the helpers here.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::lifecycle::{Maintainer, Team, year};
use crate::pipeline::{REPORT, entity, pgp_mime_encrypted};
use crate::util::*;

/// Where `make test-validators` installs the validators.
fn validators() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/validators");
    assert!(
        dir.join("advisory-py/bin/check-jsonschema").exists()
            && dir.join("advisory-py/bin/cve").exists()
            && dir
                .join("advisory-node/node_modules/@secvisogram/csaf-validator-lib/package.json")
                .exists(),
        "the advisory validators are not installed in {}: run `make test-validators` \
         (tests/validators/install-advisory.sh)",
        dir.display()
    );
    dir
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The OSV schema (1.7.5, Apache-2.0), which no package registry ships: read from the
/// workspace's shared schemas beside the repository (`../shared/schemas/osv/`), never
/// copied into it.
fn osv_schema() -> PathBuf {
    let schema = fixture("../shared/schemas/osv/schema.json");
    assert!(
        schema.is_file(),
        "the OSV schema is not at {}: the tests read it from the shared schemas beside \
         the repository (../shared/schemas/osv/schema.json)",
        schema.display()
    );
    schema
}

/// `check-jsonschema` with the OSV schema: (valid, output).
pub(crate) fn osv_verdict(file: &Path) -> (bool, String) {
    verdict(
        Command::new(validators().join("advisory-py/bin/check-jsonschema"))
            .arg("--schemafile")
            .arg(osv_schema())
            .arg(file),
    )
}

/// Runs a validator: (it accepted, what it printed on both streams).
fn verdict(validator: &mut Command) -> (bool, String) {
    let out = validator.output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `cve validate` with a schema type (cna-published, full): (valid, output).
fn cve_verdict(file: &Path, schema: &str) -> (bool, String) {
    verdict(
        Command::new(validators().join("advisory-py/bin/cve"))
            .args(["validate", "-s", schema, "-f"])
            .arg(file),
    )
}

/// Every file through csaf-validator-lib in one node process: file → (valid, errors).
fn csaf_verdicts(files: &[&Path]) -> Vec<(bool, Vec<String>)> {
    let dir = validators();
    let out = Command::new("node")
        .arg(fixture("tests/validators/csaf-validate.mjs"))
        .args(files)
        .env(
            "CSAF_VALIDATOR_MODULES",
            dir.join("advisory-node/node_modules"),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the CSAF validator did not run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), files.len(), "one verdict per file: {lines:?}");
    lines
        .iter()
        .map(|v| {
            (
                v["valid"].as_bool().unwrap(),
                v["errors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

/// Alice's report, stored and acknowledged; its ID.
pub(crate) fn reported(t: &Team) -> String {
    t.s.gw.deliver(&t.report("<adv-orig@example.net>", REPORT));
    t.s.gw.run_once();
    format!("VR-{}-0001", year())
}

pub(crate) fn set(t: &Team, id: &str, args: &[&str]) {
    let mut all = vec!["reports", "set", id];
    all.extend_from_slice(args);
    let (ok, out, err) = t.cli(&all);
    assert!(ok, "reports set {args:?}: {out}{err}");
}

/// Moves the report on to `fixed` from where it is (the researcher is told along the
/// way).
pub(crate) fn fix(t: &Team, id: &str) {
    let order = ["acknowledged", "triaged", "accepted", "fixed"];
    let now = t.show(id)["status"].as_str().unwrap().to_string();
    let from = order.iter().position(|s| *s == now).unwrap_or(0);
    for status in order.iter().skip(from + 1) {
        set(t, id, &["--status", status]);
    }
}

/// A CNA's organisation ID, as CVE Services gives them (UUID version 4).
pub(crate) const ORG_ID: &str = "b3476cb9-2e3d-41a6-98d0-0f47421a65b6";

/// `advisory` with these arguments: (success, stdout, stderr).
pub(crate) fn advisory(t: &Team, id: &str, args: &[&str]) -> (bool, String, String) {
    let mut all = vec!["advisory", id];
    all.extend_from_slice(args);
    t.cli(&all)
}

/// The advisory as JSON, which must be written.
pub(crate) fn advisory_json(t: &Team, id: &str, args: &[&str]) -> Value {
    let (ok, out, err) = advisory(t, id, args);
    assert!(ok, "advisory {args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Alice's reply in her report's thread (In-Reply-To her acknowledgement), encrypted
/// to the gateway and signed by `signer` (a key in `gpg`), or clear and unsigned.
pub(crate) fn reply_from_alice(
    t: &Team,
    gpg: &Gpg,
    signer: Option<&str>,
    in_reply_to: &str,
    msgid: &str,
    text: &str,
) {
    let mut h = t.s.headers(msgid, "Re: ...");
    h.push(("In-Reply-To", in_reply_to));
    let raw = match signer {
        Some(signer) => {
            let inner = entity(Some("Re: report"), text, &[]);
            let armored = gpg.encrypt(&t.s.gateway_fpr, Some(signer), &inner);
            pgp_mime_encrypted(&h, &armored)
        }
        None => message(&h, text),
    };
    t.s.gw.deliver(&raw);
    t.s.gw.run_once();
}

/// The Message-ID of Alice's acknowledgement of `id`.
pub(crate) fn ack_id(t: &Team, id: &str) -> String {
    let ack = t.mail_to("alice@example.net", &format!("[{id}] Received"));
    assert_eq!(ack.len(), 1);
    header(&ack[0], "Message-ID").unwrap()
}

/// `m`'s signed, encrypted mail about `id`, in reply to their notification of it.
pub(crate) fn maintainer_mail(
    t: &Team,
    m: &Maintainer,
    id: &str,
    msgid: &str,
    text: &str,
) -> Vec<u8> {
    let first = t.mail_to(m.address, "New report");
    let root = header(&first[0], "Message-ID").unwrap();
    let inner = entity(Some(&format!("Re: [{id}] New report")), text, &[]);
    let armored = m.gpg.encrypt(&t.s.gateway_fpr, Some(m.address), &inner);
    let h = vec![
        ("From", m.address),
        ("To", GATEWAY),
        ("Subject", "..."),
        ("Message-ID", msgid),
        ("MIME-Version", "1.0"),
        ("In-Reply-To", root.as_str()),
    ];
    pgp_mime_encrypted(&h, &armored)
}

/// The advisory details of a package on crates.io, set from the command line.
pub(crate) const DETAILS: &[&str] = &[
    "--ecosystem",
    "crates.io",
    "--package",
    "example-auth",
    "--purl",
    "pkg:cargo/example-auth",
    "--vendor",
    "Example Org",
    "--cwe",
    "CWE-89",
    "--references",
    "https://example.org/advisories/1 https://example.org/commit/abc",
    "--remediation",
    "Upgrade to 2.3.2.",
    "--fixed-in",
    "2.3.2",
    "--affected",
    "introduced=2.0 fixed=2.3.2",
    "--published",
    "2026-12-01",
];

#[test]
fn advisories_pass_the_independent_validators_and_broken_ones_do_not() {
    let dir = validators();
    let t = Team::new("");
    let id = reported(&t);
    set(&t, &id, DETAILS);
    set(&t, &id, &["--cve", "CVE-2026-12345"]);
    fix(&t, &id);
    reply_from_alice(
        &t,
        &t.s.gpg,
        Some(&t.s.alice),
        &ack_id(&t, &id),
        "<adv-credit@example.net>",
        "Thanks for the fix.\nCredit: Alice Example <@alice> <https://alice.example>\nCredit-Type: finder\n",
    );
    let out = tempfile::tempdir().unwrap();
    let write = |name: &str, args: &[&str]| -> PathBuf {
        let file = out.path().join(name);
        let mut all = args.to_vec();
        let path = file.display().to_string();
        all.extend(["--out", path.as_str()]);
        let (ok, so, err) = advisory(&t, &id, &all);
        assert!(ok, "{args:?}: {so}{err}");
        assert!(err.contains("advisory written to"), "{err}");
        file
    };
    let read = |p: &Path| -> Value { serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() };

    // OSV: the record and a draft pass; lower-case credit types do not.
    let osv = write("osv.json", &["--format", "osv"]);
    let osv_draft = write("osv-draft.json", &["--format", "osv", "--draft"]);
    let v = read(&osv);
    assert_eq!(v["id"], "CVE-2026-12345");
    assert_eq!(v["schema_version"], "1.7.5");
    assert_eq!(v["published"], "2026-12-01T00:00:00Z");
    assert!(v["modified"].as_str().unwrap().ends_with('Z'));
    assert_eq!(v["credits"][0]["type"], "FINDER");
    assert_eq!(v["credits"][0]["name"], "Alice Example (@alice)");
    assert_eq!(v["severity"][0]["type"], "CVSS_V3");
    assert_eq!(
        v["affected"][0]["ranges"][0]["events"],
        serde_json::json!([{"introduced": "2.0"}, {"fixed": "2.3.2"}])
    );
    for f in [&osv, &osv_draft] {
        let (ok, why) = osv_verdict(f);
        assert!(ok, "{}: {why}", f.display());
    }
    let mut broken = v.clone();
    broken["credits"][0]["type"] = "finder".into();
    let broken_osv = out.path().join("osv-broken.json");
    std::fs::write(&broken_osv, broken.to_string()).unwrap();
    let (ok, why) = osv_verdict(&broken_osv);
    assert!(!ok, "a lower-case credit type passed the OSV schema: {why}");

    // CVE: the CNA container and the full record pass; a German-only description
    // does not.
    let cna = write("cna.json", &["--format", "cve", "--org-id", ORG_ID]);
    let full = write(
        "full.json",
        &["--format", "cve", "--full", "--org-id", ORG_ID],
    );
    let c = read(&cna);
    assert_eq!(c["descriptions"][0]["lang"], "en");
    assert_eq!(c["credits"][0]["type"], "finder");
    assert_eq!(c["affected"][0]["versions"][0]["lessThan"], "2.3.2");
    assert_eq!(c["problemTypes"][0]["descriptions"][0]["cweId"], "CWE-89");
    assert_eq!(read(&full)["cveMetadata"]["cveId"], "CVE-2026-12345");
    let (ok, why) = cve_verdict(&cna, "cna-published");
    assert!(ok, "CNA container: {why}");
    let (ok, why) = cve_verdict(&full, "full");
    assert!(ok, "full record: {why}");
    let mut broken = c.clone();
    broken["descriptions"] = serde_json::json!([{"lang": "de", "value": "Eine Lücke."}]);
    let broken_cna = out.path().join("cna-broken.json");
    std::fs::write(&broken_cna, broken.to_string()).unwrap();
    let (ok, why) = cve_verdict(&broken_cna, "cna-published");
    assert!(
        !ok,
        "a CNA container without an English description passed: {why}"
    );

    // CSAF: the advisory and a draft pass the strict schema and every mandatory test;
    // one without product_status and with a wrong version does not. The file name
    // follows CSAF's rule when --out is a directory.
    let csaf = write("csaf.json", &["--format", "csaf"]);
    let csaf_draft = write("csaf-draft.json", &["--format", "csaf", "--draft"]);
    let named = tempfile::tempdir().unwrap();
    let (ok, _, err) = advisory(
        &t,
        &id,
        &[
            "--format",
            "csaf",
            "--out",
            &named.path().display().to_string(),
        ],
    );
    assert!(ok, "{err}");
    let expected = named.path().join(format!("vr-{}-0001.json", year()));
    assert!(expected.exists(), "{err}");
    let d = read(&csaf);
    assert_eq!(d["document"]["tracking"]["status"], "final");
    // Published on 2026-12-01 (--published), changed since (the details, the CVE, the
    // credit): each change a revision, the version the last one's number.
    let revisions = d["document"]["tracking"]["revision_history"]
        .as_array()
        .unwrap();
    assert!(revisions.len() >= 3, "{revisions:?}");
    assert_eq!(
        d["document"]["tracking"]["version"],
        revisions.last().unwrap()["number"]
    );
    assert!(
        revisions
            .iter()
            .any(|r| r["summary"].as_str().unwrap().contains("Credit")),
        "{revisions:?}"
    );
    assert_eq!(d["vulnerabilities"][0]["cve"], "CVE-2026-12345");
    assert_eq!(
        d["vulnerabilities"][0]["acknowledgments"][0]["names"][0],
        "Alice Example (@alice)"
    );
    let mut broken = d.clone();
    broken["vulnerabilities"][0]
        .as_object_mut()
        .unwrap()
        .remove("product_status");
    broken["document"]["tracking"]["version"] = "2".into();
    let broken_csaf = out.path().join("csaf-broken.json");
    std::fs::write(&broken_csaf, broken.to_string()).unwrap();
    let verdicts = csaf_verdicts(&[&csaf, &csaf_draft, &expected, &broken_csaf]);
    for (file, (valid, errors)) in [&csaf, &csaf_draft, &expected].iter().zip(&verdicts) {
        assert!(valid, "{}: {errors:?}", file.display());
    }
    let (valid, errors) = &verdicts[3];
    assert!(!valid, "a broken CSAF document passed");
    assert!(
        errors.iter().any(|e| e.contains("6_1_16"))
            && errors.iter().any(|e| e.contains("6_1_27_6")),
        "{errors:?}"
    );
    let _ = dir;
}

#[test]
fn no_advisory_before_the_fix_but_a_draft_marked_as_such() {
    let t = Team::new("");
    let id = reported(&t);
    set(&t, &id, &["--status", "triaged"]);
    for format in ["osv", "csaf", "cve"] {
        let (ok, out, err) = advisory(&t, &id, &["--format", format]);
        assert!(!ok, "{format}: written before the fix: {out}");
        assert!(out.is_empty(), "{out}");
        assert!(
            err.contains("is triaged") && err.contains("--draft"),
            "{format}: {err}"
        );
    }
    let osv = advisory_json(&t, &id, &["--format", "osv", "--draft"]);
    assert!(osv.get("published").is_none(), "{osv}");
    assert_eq!(osv["database_specific"]["draft"], true);
    assert_eq!(osv["id"], format!("x_{id}").as_str());
    let csaf = advisory_json(&t, &id, &["--format", "csaf", "--draft"]);
    assert_eq!(csaf["document"]["tracking"]["status"], "draft");
    assert_eq!(csaf["document"]["tracking"]["version"], "0");
    let cve = advisory_json(&t, &id, &["--format", "cve", "--draft"]);
    assert!(cve.get("datePublic").is_none(), "{cve}");
    // A draft file is the maintainers' only.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("draft.json");
    let (ok, _, err) = advisory(
        &t,
        &id,
        &[
            "--format",
            "osv",
            "--draft",
            "--out",
            &file.display().to_string(),
        ],
    );
    assert!(ok && err.contains("draft advisory written"), "{err}");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // A draft OSV record without a package (no `affected`) is still valid OSV.
    let (ok, why) = osv_verdict(&file);
    assert!(ok, "{why}");
    // Once fixed, the final advisory still names what it lacks.
    fix(&t, &id);
    // CSAF needs nothing more than the report: no version known, the product as a
    // whole is known affected; it passes every mandatory test.
    let bare = dir.path().join("bare-csaf.json");
    let (ok, _, err) = advisory(
        &t,
        &id,
        &["--format", "csaf", "--out", &bare.display().to_string()],
    );
    assert!(ok, "{err}");
    let bare_doc: Value = serde_json::from_slice(&std::fs::read(&bare).unwrap()).unwrap();
    assert_eq!(
        bare_doc["vulnerabilities"][0]["product_status"]["known_affected"],
        serde_json::json!(["CSAFPID-0001"])
    );
    let verdicts = csaf_verdicts(&[&bare]);
    assert!(verdicts[0].0, "{:?}", verdicts[0].1);
    let (ok, _, err) = advisory(&t, &id, &["--format", "osv"]);
    assert!(!ok && err.contains("--ecosystem and --package"), "{err}");
    let (ok, _, err) = advisory(&t, &id, &["--format", "cve"]);
    assert!(!ok && err.contains("--org-id"), "{err}");
    let (ok, _, err) = advisory(&t, &id, &["--format", "cve", "--org-id", ORG_ID]);
    assert!(!ok && err.contains("--references"), "{err}");
}

/// Waits for `f`, at most 30 s; fails naming `what`.
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn advisories_come_through_a_running_daemon_and_are_saved_by_the_command_line() {
    let t = Team::new("");
    let id = reported(&t);
    set(&t, &id, DETAILS);
    fix(&t, &id);
    let offline = advisory_json(&t, &id, &["--format", "osv"]);
    let mut child =
        t.s.gw
            .command()
            .arg("serve")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
    wait_for("the control socket", || t.s.gw.path("state.sock").exists());
    // A detail set through the daemon, then the advisory written by this process into
    // a directory of its own (the daemon's user may not write there).
    set(
        &t,
        &id,
        &["--summary", "Login form SQL injection in example-auth."],
    );
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = advisory(
        &t,
        &id,
        &[
            "--format",
            "osv",
            "--out",
            &dir.path().display().to_string(),
        ],
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(10) {
            let _ = child.kill();
            panic!("serve did not stop");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(ok, "{out}{err}");
    let file = dir.path().join("x_".to_string() + &id + ".json");
    let online: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(online["id"], offline["id"]);
    assert_eq!(
        online["details"].as_str().unwrap().lines().next(),
        Some("Login form SQL injection in example-auth.")
    );
    assert_eq!(online["affected"], offline["affected"]);
    let (ok, why) = osv_verdict(&file);
    assert!(ok, "{why}");
}

/// The affected ranges of an advisory come from the report as the researcher wrote them
/// (issue 24's extraction) until a maintainer corrects them: two release lines and a
/// fixed version stated apart, nothing typed in by the team but the package.
#[test]
fn the_ranges_the_researcher_wrote_reach_the_advisory_until_a_maintainer_corrects_them() {
    let t = Team::new("");
    let text = REPORT.replace(
        "Affected versions: 2.0 to 2.3.1\n",
        "Affected versions: 1.x before 1.9.4, 2.0 through 2.3.1\nFixed in: 1.9.4, 2.3.2\n",
    );
    t.s.gw.deliver(&t.report("<adv-ranges@example.net>", &text));
    t.s.gw.run_once();
    let id = format!("VR-{}-0001", year());
    let shown = t.show(&id);
    assert_eq!(
        shown["fields"]["affected"],
        serde_json::json!([
            {"introduced": "1.0", "fixed": "1.9.4", "text": "1.x before 1.9.4"},
            {"introduced": "2.0", "last_affected": "2.3.1", "text": "2.0 through 2.3.1"}
        ]),
        "{shown}"
    );
    set(
        &t,
        &id,
        &["--ecosystem", "crates.io", "--package", "example-auth"],
    );
    fix(&t, &id);
    let osv = advisory_json(&t, &id, &["--format", "osv"]);
    let events: Vec<&Value> = osv["affected"][0]["ranges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["events"])
        .collect();
    assert_eq!(
        events,
        [
            &serde_json::json!([{"introduced": "1.0"}, {"fixed": "1.9.4"}]),
            &serde_json::json!([{"introduced": "2.0"}, {"last_affected": "2.3.1"}])
        ],
        "{osv}"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("osv.json");
    std::fs::write(&file, osv.to_string()).unwrap();
    let (valid, why) = osv_verdict(&file);
    assert!(valid, "{why}");
    // A maintainer's correction replaces what was read.
    set(&t, &id, &["--affected", "introduced=2.0 fixed=2.3.2"]);
    let osv = advisory_json(&t, &id, &["--format", "osv"]);
    assert_eq!(
        osv["affected"][0]["ranges"][0]["events"],
        serde_json::json!([{"introduced": "2.0"}, {"fixed": "2.3.2"}]),
        "{osv}"
    );
}
