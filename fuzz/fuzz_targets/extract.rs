//! Field and CVSS extraction from any text, and HTML conversion.
#![no_main]

use disclosured::testing::extract;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let fields = extract::extract(Some(&text), &text);
    let _ = fields.severity();
    let _ = extract::find_cvss(&text);
    let _ = extract::html_to_text(&text);
});
