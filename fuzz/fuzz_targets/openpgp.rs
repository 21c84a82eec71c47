//! Inline and PGP/MIME OpenPGP handling: decrypt and verify whatever arrives, with a
//! real gateway key and the default limits.
#![no_main]

use std::sync::OnceLock;

use disclosured::testing::config::{KeySettings, Limits};
use disclosured::testing::crypto::{Keyring, open};
use libfuzzer_sys::fuzz_target;

fn keyring() -> &'static Keyring {
    static K: OnceLock<(tempfile::TempDir, Keyring)> = OnceLock::new();
    &K.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        Keyring::generate(dir.path(), "Fuzz", "security@example.org").expect("key");
        let ring = Keyring::load(&KeySettings {
            dir: dir.path().to_path_buf(),
            reporters_dir: dir.path().join("r"),
            maintainers_dir: dir.path().join("m"),
            passphrase: None,
        })
        .expect("keyring");
        (dir, ring)
    })
    .1
}

fuzz_target!(|data: &[u8]| {
    let none = |_: &sequoia_openpgp::KeyHandle| Vec::new();
    let _ = open(data, keyring(), &none, &[], &Limits::default());
});
