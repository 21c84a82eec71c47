use super::*;
use crate::config::Settings;

const ADDRESS: &str = "security@example.org";

fn settings() -> Settings {
    Settings::parse_toml(&format!(
        "[gateway]\naddress = \"{ADDRESS}\"\nname = \"Example\"\n[publish]\nexpires = \"180d\"\n"
    ))
    .unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

#[test]
fn the_tree_has_every_file_and_its_security_txt_checks_out() {
    let keys = tempfile::tempdir().unwrap();
    let ring = crate::crypto::test_keyring(keys.path(), ADDRESS);
    let out = tempfile::tempdir().unwrap();
    let t0 = at("2026-12-07T12:00:00Z");
    let tree = publish(&settings(), &ring, &[], out.path(), t0).unwrap();
    let h = wkd::hash("security").unwrap();
    for rel in [
        SECURITY_TXT.to_string(),
        format!(".well-known/openpgpkey/example.org/hu/{h}"),
        ".well-known/openpgpkey/example.org/policy".into(),
        format!(".well-known/openpgpkey/hu/{h}"),
        ".well-known/openpgpkey/policy".into(),
        KEY_FILE.into(),
        POLICY_MD.into(),
        POLICY_HTML.into(),
    ] {
        assert!(out.path().join(&rel).is_file(), "{rel} missing");
    }
    assert_eq!(tree.expires, Some(at("2027-06-05T12:00:00Z")));
    assert_eq!(tree.wkd_keys.len(), 1);
    // No temporary file is left beside the published ones.
    for dir in [out.path().join(".well-known"), out.path().to_path_buf()] {
        for e in std::fs::read_dir(dir).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.contains(".tmp-"), "{name}");
        }
    }
    let within = chrono::TimeDelta::days(30);
    // Good until 30 days before it expires, then due; its signature is the key's.
    assert!(check(out.path(), &ring, t0 + chrono::TimeDelta::days(149), within).is_ok());
    assert_eq!(
        check(out.path(), &ring, t0 + chrono::TimeDelta::days(151), within),
        Err(Staleness::ExpiresSoon(at("2027-06-05T12:00:00Z")))
    );
    let other = tempfile::tempdir().unwrap();
    let other = crate::crypto::test_keyring(other.path(), ADDRESS);
    assert_eq!(
        check(out.path(), &other, t0, within),
        Err(Staleness::SignatureMismatch)
    );
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(
        check(empty.path(), &ring, t0, within),
        Err(Staleness::Missing)
    );
}

#[test]
fn after_rotation_the_wkd_holds_the_new_key_then_the_old_one() {
    let keys = tempfile::tempdir().unwrap();
    let ks = crate::config::KeySettings::in_dir(keys.path());
    crate::crypto::Keyring::generate(keys.path(), "Example", ADDRESS).unwrap();
    let old = crate::crypto::Keyring::load(&ks).unwrap();
    let old_fpr = old.signing_cert().unwrap().fingerprint().to_hex();
    crate::crypto::Keyring::rotate(&ks, "Example", ADDRESS).unwrap();
    let ring = crate::crypto::Keyring::load(&ks).unwrap();
    let new_fpr = ring.signing_cert().unwrap().fingerprint().to_hex();
    assert_ne!(old_fpr, new_fpr);
    let tree = build(&settings(), &ring, &[], Utc::now()).unwrap();
    assert_eq!(tree.wkd_keys, [new_fpr, old_fpr.clone()]);
    assert_eq!(tree.revoked, [old_fpr]);
}
