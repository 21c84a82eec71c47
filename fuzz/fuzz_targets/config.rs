//! Configuration parsing: any TOML over the defaults gives settings or an error.
#![no_main]

use disclosured::testing::config::Settings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Settings::parse_toml(text);
    }
});
