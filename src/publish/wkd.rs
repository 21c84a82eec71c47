//! The Web Key Directory (draft-koch-openpgp-webkey-service, section 3.1): where a
//! mail client looks for the key of an address over https, in the advanced layout
//! (`openpgpkey.<domain>/.well-known/openpgpkey/<domain>/hu/<hash>`) and the direct one
//! (`<domain>/.well-known/openpgpkey/hu/<hash>`), each beside its `policy` file.

use std::path::PathBuf;

/// z-base-32 (RFC 6189 section 5.1.6): the alphabet of the WKD file names.
const ZBASE32: &[u8; 32] = b"ybndrfg8ejkmcpqxot1uwisza345h769";

/// The z-base-32 character of a 5-bit value (the mask keeps it below 32).
fn symbol(v: u32) -> char {
    ZBASE32
        .get((v & 31) as usize)
        .map_or('y', |b| char::from(*b))
}

fn zbase32(data: &[u8]) -> String {
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in data {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(symbol(buffer >> bits));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(symbol(buffer << (5 - bits)));
    }
    out
}

/// The hashed local part: only ASCII A-Z are mapped to lower case, other characters
/// stay as they are (section 3.1), then SHA-1 and z-base-32: 32 characters.
pub(crate) fn hash(local_part: &str) -> Option<String> {
    let folded = local_part.to_ascii_lowercase();
    crate::crypto::publication::sha1(folded.as_bytes()).map(|d| zbase32(&d))
}

/// Where the key of `address` and the policy files go, relative to the tree's root:
/// `(key files, policy files)`, advanced layout first. `None` for a string that is
/// not `local@domain`.
pub(crate) fn paths(address: &str) -> Option<(Vec<PathBuf>, Vec<PathBuf>)> {
    let (local, domain) = address.rsplit_once('@')?;
    if local.is_empty() || domain.is_empty() || domain.contains(['/', '\\']) || domain == ".." {
        return None;
    }
    let hashed = hash(local)?;
    let root = PathBuf::from(".well-known/openpgpkey");
    let advanced = root.join(domain.to_ascii_lowercase());
    Some((
        vec![
            advanced.join("hu").join(&hashed),
            root.join("hu").join(&hashed),
        ],
        vec![advanced.join("policy"), root.join("policy")],
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_the_draft_and_gnupg() {
        // The draft's example, a GnuPG vector, and case folding of ASCII only.
        for (local, want) in [
            ("Joe.Doe", "iy9q119eutrkn8s1mk4r39qejnbu3n5q"),
            ("test1", "stnkabub89rpcphiz4ppbxixkwyt1pic"),
            ("Ümlaut", "5gbpdcoi8yiwj4b59pazio9ubwjz11j1"),
        ] {
            assert_eq!(hash(local).unwrap(), want, "{local}");
        }
        assert_eq!(hash("ÜSER"), hash("Üser"));
        assert_ne!(hash("üser"), hash("Üser"));
    }

    #[test]
    fn both_layouts_with_their_policy_files() {
        let (keys, policies) = paths("Security@Example.ORG").unwrap();
        let keys: Vec<String> = keys.iter().map(|p| p.display().to_string()).collect();
        let h = hash("security").unwrap();
        assert_eq!(
            keys,
            [
                format!(".well-known/openpgpkey/example.org/hu/{h}"),
                format!(".well-known/openpgpkey/hu/{h}"),
            ]
        );
        assert_eq!(policies.len(), 2);
        assert!(paths("no-at-sign").is_none());
        assert!(paths("a@..").is_none());
    }
}
