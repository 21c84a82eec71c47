//! The whole intake path: raw bytes in, a recorded outcome out (report, duplicate,
//! skipped or quarantined), through a real store and a real gateway key.
#![no_main]

use std::sync::OnceLock;

use disclosured::testing::config::Settings;
use disclosured::testing::pipeline::{Origin, Pipeline};
use libfuzzer_sys::fuzz_target;

fn pipeline() -> &'static Pipeline {
    static P: OnceLock<(tempfile::TempDir, Pipeline)> = OnceLock::new();
    &P.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let root = dir.path().display().to_string();
        let env = [
            ("DISCLOSURED__INBOX__PATH", format!("{root}/inbox")),
            ("DISCLOSURED__OUTBOX__PATH", format!("{root}/outbox")),
            ("DISCLOSURED__STORE__PATH", format!("{root}/state")),
            ("DISCLOSURED__KEYS__DIR", format!("{root}/keys")),
        ]
        .map(|(k, v)| (k.to_string(), v));
        let settings = Settings::load_with_env(None, env).expect("settings");
        let (pipeline, _) = Pipeline::start(settings).expect("pipeline");
        (dir, pipeline)
    })
    .1
}

fuzz_target!(|data: &[u8]| {
    let origin = Origin {
        name: "fuzz".into(),
        handled_at: "fuzz:handled".into(),
        quarantine_at: "fuzz:quarantine".into(),
    };
    // Only the store failing may be an error; every input must get an outcome.
    pipeline()
        .process(data, &origin)
        .expect("an outcome for every input");
});
