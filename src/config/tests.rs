use super::*;
use std::io::Write;

fn load(toml: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(toml.as_bytes()).unwrap();
    Settings::load_with_env(
        Some(f.path()),
        env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
    )
}

#[test]
fn embedded_default_is_valid() {
    let s = Settings::load_with_env(None, Vec::new()).unwrap();
    assert_eq!(s.gateway.report_id_prefix, "VR");
    assert_eq!(s.policy.acknowledge, Duration::from_secs(48 * 3600));
    assert!(s.store.path.is_absolute());
    assert!(s.store.path.ends_with("var/state"));
    assert!(s.keys.reporters_dir.ends_with("keys/reporters"));
    // The documented defaults are the ones in code.
    assert_eq!(s.limits, Limits::default());
}

#[test]
fn file_overrides_defaults_and_env_overrides_file() {
    let s = load(
        "[gateway]\nreport_id_prefix = \"SEC\"\n[policy]\nacknowledge = \"24h\"\n",
        &[
            ("DISCLOSURED__GATEWAY__ADDRESS", "vuln@example.net"),
            ("DISCLOSURED__POLICY__REQUIRED_FIELDS", "title,impact"),
            ("OTHER__GATEWAY__ADDRESS", "ignored@example.net"),
        ],
    )
    .unwrap();
    assert_eq!(s.gateway.report_id_prefix, "SEC");
    assert_eq!(s.gateway.address, "vuln@example.net");
    assert_eq!(s.policy.acknowledge, Duration::from_secs(24 * 3600));
    assert_eq!(
        s.policy.required_fields,
        vec![FieldName::Title, FieldName::Impact]
    );
}

#[test]
fn unknown_key_is_an_error_naming_the_key() {
    let err = load("[inbox]\npaht = \"x\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("paht"), "{err}");
    let err = load("[frobnicate]\nx = 1\n", &[]).unwrap_err().to_string();
    assert!(err.contains("frobnicate"), "{err}");
}

#[test]
fn all_problems_are_reported_at_once() {
    let err = load(
        "[gateway]\naddress = \"not an address\"\nreport_id_prefix = \"v r\"\n[policy]\nacknowledge = \"soon\"\nrequired_fields = [\"title\", \"colour\"]\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    for needle in [
        "gateway.address",
        "report_id_prefix",
        "policy.acknowledge",
        "colour",
    ] {
        assert!(err.contains(needle), "{needle} missing from {err}");
    }
}

#[test]
fn key_passphrase_is_optional_and_named_one_way() {
    let s = load("", &[]).unwrap();
    assert_eq!(s.keys.passphrase, None);
    let s = load("[keys]\npassphrase_credential = \"key-passphrase\"\n", &[]).unwrap();
    assert_eq!(
        s.keys.passphrase,
        Some(Secret::Credential("key-passphrase".into()))
    );
    let s = load("[keys]\npassphrase_file = \"/etc/d/pp\"\n", &[]).unwrap();
    assert_eq!(s.keys.passphrase, Some(Secret::File("/etc/d/pp".into())));
    let err = load(
        "[keys]\npassphrase_file = \"/etc/d/pp\"\npassphrase_credential = \"pp\"\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("keys.passphrase_file, keys.passphrase_credential"),
        "{err}"
    );
    let err = load("[keys]\npassphrase_credential = \"../x\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("keys.passphrase_credential"), "{err}");
    // A password stays required where it is needed, and the message names both keys.
    let err = load(
        "[inbox]\nkind = \"imap\"\nhost = \"h\"\nusername = \"u\"\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("inbox.password_file (or inbox.password_credential): required"),
        "{err}"
    );
}

#[test]
fn systemd_example_is_valid_and_names_credentials() {
    let s = Settings::parse_toml(include_str!("../../config/systemd.toml")).unwrap();
    assert_eq!(s.store.path, Path::new("/var/lib/disclosured/state"));
    assert_eq!(s.keys.dir, Path::new("/var/lib/disclosured/keys"));
    assert_eq!(
        s.keys.reporters_dir,
        Path::new("/var/lib/disclosured/keys/reporters")
    );
    let Inbox::Imap(imap) = &s.inbox else {
        panic!("the systemd example reads IMAP");
    };
    assert_eq!(imap.password, Secret::Credential("imap-password".into()));
    let Outbox::Smtp(smtp) = &s.outbox else {
        panic!("the systemd example sends through SMTP");
    };
    assert_eq!(
        smtp.auth.as_ref().map(|(_, p)| p),
        Some(&Secret::Credential("smtp-password".into()))
    );
    // The unit loads exactly the credentials the configuration can name.
    let unit = include_str!("../../systemd/disclosured.service");
    for name in ["imap-password", "smtp-password", "key-passphrase"] {
        assert!(
            unit.contains(&format!(
                "LoadCredential={name}:/etc/disclosured/credentials/{name}"
            )),
            "{name}"
        );
    }
}

#[test]
fn maintainers_mail_and_reporter_states_are_checked() {
    let s = Settings::load_with_env(None, Vec::new()).unwrap();
    assert_eq!(s.maintainers_mail.max_age, Duration::from_secs(7 * 86400));
    assert_eq!(s.maintainers_mail.signature, "{name}, {team}");
    assert_eq!(
        s.notify.reporter_on,
        ["accepted", "fixed", "disclosed", "rejected"]
    );
    let err = load(
        "[maintainers_mail]\nmax_age = \"0s\"\nsignature = \"a\\nb\"\n[notify]\nreporter_on = [\"Fixed\", \"closed\"]\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    for expected in [
        "maintainers_mail.max_age",
        "maintainers_mail.signature: must be one line",
        "notify.reporter_on: \"closed\"",
    ] {
        assert!(err.contains(expected), "{expected}: {err}");
    }
    let s = load("[notify]\nreporter_on = [\"Fixed\", \"fixed\"]\n", &[]).unwrap();
    assert_eq!(s.notify.reporter_on, ["fixed"]);
}

#[test]
fn store_cache_defaults_to_8_mib_and_is_bounded() {
    let s = Settings::load_with_env(None, Vec::new()).unwrap();
    assert_eq!(s.store.cache_bytes, 8 << 20);
    let s = load("[store]\npath = \"s\"\ncache_mb = 256\n", &[]).unwrap();
    assert_eq!(s.store.cache_bytes, 256 << 20);
    for bad in ["0", "7", "4097"] {
        let err = load(&format!("[store]\npath = \"s\"\ncache_mb = {bad}\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("store.cache_mb") && err.contains(bad), "{err}");
    }
}
