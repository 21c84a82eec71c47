//! Loading, generating, rotating and importing gateway keys, against real files.

use super::*;
use crate::config::Secret;
use crate::crypto::key_files::write_new;
use std::os::unix::fs::PermissionsExt;

fn settings(dir: &Path) -> KeySettings {
    KeySettings::in_dir(dir)
}

/// A secret key file for `dir`, protected by `password` when given, with an
/// explicit creation time (older than "now" by `age_secs`).
fn made_elsewhere(password: Option<&str>, age_secs: u64) -> (Cert, Vec<u8>) {
    let created = std::time::SystemTime::now() - std::time::Duration::from_secs(age_secs);
    let (cert, _) = CertBuilder::new()
        .set_cipher_suite(CipherSuite::Cv25519)
        .add_userid("Old Team <security@example.org>")
        .add_signing_subkey()
        .add_transport_encryption_subkey()
        .set_creation_time(created)
        .set_password(password.map(Password::from))
        .generate()
        .unwrap();
    let bytes = cert.as_tsk().armored().to_vec().unwrap();
    (cert, bytes)
}

fn private_file(path: &Path, text: &str) {
    write_new(path, text.as_bytes(), 0o600).unwrap();
}

#[test]
fn generate_then_load_and_refuse_loose_permissions() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    let g = Keyring::generate(&keys, "Sec Team", "security@example.org").unwrap();
    let mode = fs::metadata(&g.secret_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let ring = Keyring::load(&settings(&keys)).unwrap();
    assert_eq!(ring.gateway_keys().len(), 1);
    let signer = ring.signing_cert().unwrap();
    assert_eq!(signer.fingerprint().to_hex(), g.fingerprint);
    assert!(super::super::cert_has_address(
        signer,
        "security@example.org"
    ));
    assert!(!ring.decryption_keys().is_empty());

    fs::set_permissions(&g.secret_path, fs::Permissions::from_mode(0o640)).unwrap();
    let err = Keyring::load(&settings(&keys)).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            KeyError::Secret(crate::config::SecretError::LoosePermissions { .. })
        ),
        "{msg}"
    );
    assert!(msg.contains("chmod 600"), "{msg}");
    // Nothing of the key itself appears in the message.
    assert!(!msg.contains("BEGIN PGP"), "{msg}");
}

#[test]
fn newest_key_signs_and_all_decrypt() {
    let tmp = tempfile::tempdir().unwrap();
    let first = Keyring::generate(tmp.path(), "T", "s@example.org").unwrap();
    // Creation times have one-second resolution.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = Keyring::generate(tmp.path(), "T", "s@example.org").unwrap();
    // Without the signing-key file (keys from before it existed) the newest signs.
    fs::remove_file(tmp.path().join(SIGNING_KEY_FILE)).unwrap();
    let ring = Keyring::load(&settings(tmp.path())).unwrap();
    assert_eq!(ring.gateway_keys().len(), 2);
    assert_eq!(
        ring.signing_cert().unwrap().fingerprint().to_hex(),
        second.fingerprint
    );
    assert_ne!(first.fingerprint, second.fingerprint);
    // Primary, signing and two encryption keys each.
    assert_eq!(ring.decryption_keys().len(), 8);
}

#[test]
fn rotate_switches_the_signing_key_even_within_one_second() {
    let tmp = tempfile::tempdir().unwrap();
    let s = settings(tmp.path());
    let first = Keyring::generate(&s.dir, "T", "s@example.org").unwrap();
    // No pause: both keys may have the same creation time; the choice is explicit.
    let r = Keyring::rotate(&s, "T", "s@example.org").unwrap();
    assert_eq!(r.previous.as_deref(), Some(first.fingerprint.as_str()));
    let ring = Keyring::load(&s).unwrap();
    let signer = ring.signing_cert().unwrap().fingerprint().to_hex();
    assert_eq!(signer, r.new.fingerprint);
    assert_eq!(ring.gateway_keys()[0].cert.fingerprint().to_hex(), signer);
    // The old key still decrypts.
    assert_eq!(ring.decryption_keys().len(), 8);
    assert!(
        ring.gateway_keys()
            .iter()
            .any(|g| g.cert.fingerprint().to_hex() == first.fingerprint)
    );
    // And again: the third replaces the second.
    let r2 = Keyring::rotate(&s, "T", "s@example.org").unwrap();
    assert_eq!(r2.previous.as_deref(), Some(r.new.fingerprint.as_str()));
    let ring = Keyring::load(&s).unwrap();
    assert_eq!(
        ring.signing_cert().unwrap().fingerprint().to_hex(),
        r2.new.fingerprint
    );
}

#[test]
fn the_chosen_key_signs_even_when_older_and_a_missing_one_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let s = settings(tmp.path());
    Keyring::generate(&s.dir, "T", "security@example.org").unwrap();
    let (old, bytes) = made_elsewhere(None, 86400);
    let i = Keyring::import(
        &s,
        Path::new("old.asc"),
        &bytes,
        "security@example.org",
        true,
    )
    .unwrap();
    assert_eq!(
        i.signing.as_deref(),
        Some(old.fingerprint().to_hex().as_str())
    );
    let ring = Keyring::load(&s).unwrap();
    assert_eq!(
        ring.signing_cert().unwrap().fingerprint(),
        old.fingerprint()
    );

    fs::remove_file(&i.secret_path).unwrap();
    let err = Keyring::load(&s).unwrap_err();
    assert!(matches!(err, KeyError::SigningKeyMissing { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(SIGNING_KEY_FILE) && msg.contains(&old.fingerprint().to_hex()),
        "{msg}"
    );
}

#[test]
fn import_without_sign_keeps_the_current_signing_key() {
    let tmp = tempfile::tempdir().unwrap();
    let s = settings(tmp.path());
    let current = Keyring::generate(&s.dir, "T", "security@example.org").unwrap();
    // Newer than the current key: creation time alone would make it sign.
    let (newer, bytes) = made_elsewhere(None, 0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let i = Keyring::import(
        &s,
        Path::new("k.asc"),
        &bytes,
        "security@example.org",
        false,
    )
    .unwrap();
    assert_eq!(i.signing.as_deref(), Some(current.fingerprint.as_str()));
    assert!(i.can_sign && !i.protected && !i.address_missing);
    let mode = fs::metadata(&i.secret_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let ring = Keyring::load(&s).unwrap();
    assert_eq!(
        ring.signing_cert().unwrap().fingerprint().to_hex(),
        current.fingerprint
    );
    assert!(ring.gateway_cert_of(&newer.fingerprint().into()).is_some());
    // Twice is an error naming the file already there.
    let err = Keyring::import(
        &s,
        Path::new("k.asc"),
        &bytes,
        "security@example.org",
        false,
    )
    .unwrap_err();
    assert!(matches!(err, KeyError::AlreadyPresent { .. }), "{err}");
}

#[test]
fn import_refuses_public_keys_garbage_and_several_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let s = settings(tmp.path());
    let (cert, secret) = made_elsewhere(None, 0);
    let public = cert.armored().to_vec().unwrap();
    let err = Keyring::import(&s, Path::new("pub.asc"), &public, "a@b.c", false).unwrap_err();
    assert!(matches!(err, KeyError::PublicOnly { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("pub.asc") && msg.contains("only a public key"),
        "{msg}"
    );
    let err = Keyring::import(&s, Path::new("x.asc"), b"hello", "a@b.c", false).unwrap_err();
    assert!(matches!(err, KeyError::Unparsable { .. }), "{err}");
    let (_, other) = made_elsewhere(None, 0);
    let both = [secret, other].concat();
    let err = Keyring::import(&s, Path::new("two.asc"), &both, "a@b.c", false).unwrap_err();
    assert!(matches!(err, KeyError::Several { count: 2, .. }), "{err}");
    // Nothing was written.
    assert!(key_files(&s.dir).unwrap().is_empty());
}

#[test]
fn import_refuses_a_key_that_cannot_decrypt() {
    let tmp = tempfile::tempdir().unwrap();
    let s = settings(tmp.path());
    let (cert, _) = CertBuilder::new()
        .add_userid("s@example.org")
        .add_signing_subkey()
        .generate()
        .unwrap();
    let bytes = cert.as_tsk().to_vec().unwrap();
    let err = Keyring::import(
        &s,
        Path::new("sign-only.pgp"),
        &bytes,
        "s@example.org",
        false,
    )
    .unwrap_err();
    assert!(matches!(err, KeyError::CannotDecrypt { .. }), "{err}");
}

#[test]
fn protected_key_needs_the_right_passphrase() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    fs::create_dir(&keys).unwrap();
    let passphrase = "correct horse PassphraseCanary";
    let (cert, bytes) = made_elsewhere(Some(passphrase), 0);
    let key_path = keys.join("imported.sec.asc");
    write_new(&key_path, &bytes, 0o600).unwrap();
    let mut s = settings(&keys);

    // None configured: the error names the key file and the settings.
    let err = Keyring::load(&s).unwrap_err();
    assert!(matches!(err, KeyError::NeedsPassphrase { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(key_path.to_str().unwrap()), "{msg}");
    assert!(msg.contains("keys.passphrase_file"), "{msg}");

    // Without unlocking (keys show, keys export) it loads, and would sign.
    let locked = Keyring::load_locked(&s).unwrap();
    assert!(locked.gateway_keys()[0].protected);
    assert_eq!(
        locked.signing_cert().unwrap().fingerprint(),
        cert.fingerprint()
    );
    assert!(locked.signing_key().is_none());
    assert!(locked.decryption_keys().is_empty());

    // A wrong one: named by where it came from, never by its value.
    let wrong = tmp.path().join("wrong");
    private_file(&wrong, "WrongPassphraseCanary\n");
    s.passphrase = Some(Secret::File(wrong.clone()));
    let msg = Keyring::load(&s).unwrap_err().to_string();
    assert!(msg.contains(key_path.to_str().unwrap()), "{msg}");
    assert!(msg.contains(wrong.to_str().unwrap()), "{msg}");
    assert!(msg.contains("does not unlock"), "{msg}");
    assert!(!msg.contains("WrongPassphraseCanary"), "{msg}");

    // The right one, with a trailing newline as editors leave it.
    let right = tmp.path().join("right");
    private_file(&right, &format!("{passphrase}\n"));
    s.passphrase = Some(Secret::File(right.clone()));
    let ring = Keyring::load(&s).unwrap();
    assert!(ring.signing_key().unwrap().has_unencrypted_secret());
    assert_eq!(ring.decryption_keys().len(), 3);
    assert!(
        ring.decryption_keys()
            .iter()
            .all(|k| k.has_unencrypted_secret())
    );
    // The file on disk stays protected.
    let (on_disk, _) = super::super::parse_certs(&fs::read(&key_path).unwrap());
    assert!(is_protected(&on_disk[0]));

    // A passphrase file others can read is refused, with the fix.
    fs::set_permissions(&right, fs::Permissions::from_mode(0o644)).unwrap();
    let msg = Keyring::load(&s).unwrap_err().to_string();
    assert!(
        msg.contains(right.to_str().unwrap()) && msg.contains("chmod 600"),
        "{msg}"
    );
}

#[test]
fn import_checks_a_protected_key_against_the_configured_passphrase() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = settings(&tmp.path().join("keys"));
    let (_, bytes) = made_elsewhere(Some("pw-one"), 0);
    let err = Keyring::import(
        &s,
        Path::new("p.asc"),
        &bytes,
        "security@example.org",
        false,
    )
    .unwrap_err();
    assert!(matches!(err, KeyError::NeedsPassphrase { .. }), "{err}");
    let wrong = tmp.path().join("wrong");
    private_file(&wrong, "pw-two");
    s.passphrase = Some(Secret::File(wrong));
    let err = Keyring::import(
        &s,
        Path::new("p.asc"),
        &bytes,
        "security@example.org",
        false,
    )
    .unwrap_err();
    assert!(matches!(err, KeyError::WrongPassphrase { .. }), "{err}");
    let right = tmp.path().join("right");
    private_file(&right, "pw-one");
    s.passphrase = Some(Secret::File(right));
    let i = Keyring::import(
        &s,
        Path::new("p.asc"),
        &bytes,
        "security@example.org",
        false,
    )
    .unwrap();
    assert!(i.protected && i.passphrase_checked);
    // The first key signs.
    assert_eq!(i.signing.as_deref(), Some(i.fingerprint.as_str()));
    assert!(Keyring::load(&s).unwrap().signing_key().is_some());
}

#[test]
fn garbage_secret_file_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("broken.asc");
    write_new(&path, b"not a key", 0o600).unwrap();
    let err = Keyring::load(&settings(tmp.path()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("broken.asc"), "{err}");
}
