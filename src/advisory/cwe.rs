//! Names of the weaknesses reports most often name (the CWE Top 25 and their usual
//! neighbours), as the CWE list spells them: CSAF 2.0 requires the exact name beside
//! the ID (mandatory test 6.1.11). A CWE not listed here is still exported by ID (OSV,
//! CVE); CSAF then names it in a note instead.

/// `(number, name)`, sorted by number.
const NAMES: &[(u32, &str)] = &[
    (20, "Improper Input Validation"),
    (
        22,
        "Improper Limitation of a Pathname to a Restricted Directory ('Path Traversal')",
    ),
    (
        77,
        "Improper Neutralization of Special Elements used in a Command ('Command Injection')",
    ),
    (
        78,
        "Improper Neutralization of Special Elements used in an OS Command ('OS Command Injection')",
    ),
    (
        79,
        "Improper Neutralization of Input During Web Page Generation ('Cross-site Scripting')",
    ),
    (
        89,
        "Improper Neutralization of Special Elements used in an SQL Command ('SQL Injection')",
    ),
    (
        94,
        "Improper Control of Generation of Code ('Code Injection')",
    ),
    (
        119,
        "Improper Restriction of Operations within the Bounds of a Memory Buffer",
    ),
    (
        120,
        "Buffer Copy without Checking Size of Input ('Classic Buffer Overflow')",
    ),
    (121, "Stack-based Buffer Overflow"),
    (122, "Heap-based Buffer Overflow"),
    (125, "Out-of-bounds Read"),
    (134, "Use of Externally-Controlled Format String"),
    (190, "Integer Overflow or Wraparound"),
    (
        200,
        "Exposure of Sensitive Information to an Unauthorized Actor",
    ),
    (
        209,
        "Generation of Error Message Containing Sensitive Information",
    ),
    (269, "Improper Privilege Management"),
    (284, "Improper Access Control"),
    (285, "Improper Authorization"),
    (287, "Improper Authentication"),
    (295, "Improper Certificate Validation"),
    (306, "Missing Authentication for Critical Function"),
    (312, "Cleartext Storage of Sensitive Information"),
    (319, "Cleartext Transmission of Sensitive Information"),
    (326, "Inadequate Encryption Strength"),
    (327, "Use of a Broken or Risky Cryptographic Algorithm"),
    (330, "Use of Insufficiently Random Values"),
    (347, "Improper Verification of Cryptographic Signature"),
    (352, "Cross-Site Request Forgery (CSRF)"),
    (
        362,
        "Concurrent Execution using Shared Resource with Improper Synchronization ('Race Condition')",
    ),
    (384, "Session Fixation"),
    (400, "Uncontrolled Resource Consumption"),
    (416, "Use After Free"),
    (427, "Uncontrolled Search Path Element"),
    (434, "Unrestricted Upload of File with Dangerous Type"),
    (
        444,
        "Inconsistent Interpretation of HTTP Requests ('HTTP Request/Response Smuggling')",
    ),
    (476, "NULL Pointer Dereference"),
    (502, "Deserialization of Untrusted Data"),
    (532, "Insertion of Sensitive Information into Log File"),
    (601, "URL Redirection to Untrusted Site ('Open Redirect')"),
    (611, "Improper Restriction of XML External Entity Reference"),
    (613, "Insufficient Session Expiration"),
    (
        614,
        "Sensitive Cookie in HTTPS Session Without 'Secure' Attribute",
    ),
    (639, "Authorization Bypass Through User-Controlled Key"),
    (
        640,
        "Weak Password Recovery Mechanism for Forgotten Password",
    ),
    (704, "Incorrect Type Conversion or Cast"),
    (732, "Incorrect Permission Assignment for Critical Resource"),
    (749, "Exposed Dangerous Method or Function"),
    (770, "Allocation of Resources Without Limits or Throttling"),
    (
        776,
        "Improper Restriction of Recursive Entity References in DTDs ('XML Entity Expansion')",
    ),
    (787, "Out-of-bounds Write"),
    (798, "Use of Hard-coded Credentials"),
    (
        829,
        "Inclusion of Functionality from Untrusted Control Sphere",
    ),
    (834, "Excessive Iteration"),
    (
        835,
        "Loop with Unreachable Exit Condition ('Infinite Loop')",
    ),
    (
        843,
        "Access of Resource Using Incompatible Type ('Type Confusion')",
    ),
    (862, "Missing Authorization"),
    (863, "Incorrect Authorization"),
    (908, "Use of Uninitialized Resource"),
    (
        917,
        "Improper Neutralization of Special Elements used in an Expression Language Statement ('Expression Language Injection')",
    ),
    (918, "Server-Side Request Forgery (SSRF)"),
    (
        924,
        "Improper Enforcement of Message Integrity During Transmission in a Communication Channel",
    ),
    (
        1236,
        "Improper Neutralization of Formula Elements in a CSV File",
    ),
    (
        1321,
        "Improperly Controlled Modification of Object Prototype Attributes ('Prototype Pollution')",
    ),
    (1333, "Inefficient Regular Expression Complexity"),
];

/// The name of `CWE-<n>`, when known.
pub(crate) fn name(id: &str) -> Option<&'static str> {
    let n: u32 = id.strip_prefix("CWE-")?.parse().ok()?;
    NAMES
        .binary_search_by_key(&n, |(k, _)| *k)
        .ok()
        .and_then(|i| NAMES.get(i))
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_found_by_id() {
        assert_eq!(
            super::name("CWE-22").map(|n| n.contains("Path Traversal")),
            Some(true)
        );
        assert_eq!(super::name("CWE-99999"), None);
        assert!(
            super::NAMES
                .windows(2)
                .all(|w| matches!(w, [a, b] if a.0 < b.0))
        );
    }
}
