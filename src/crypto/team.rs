//! The maintainers' public keys, from the `[[maintainers]]` entries of the
//! configuration: everything the gateway tells maintainers is encrypted to these.

use std::path::PathBuf;

use sequoia_openpgp::Cert;

use crate::config::Maintainer;

#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    #[error("maintainer {address}: key file {path}: {reason}")]
    Key {
        address: String,
        path: PathBuf,
        reason: String,
    },
}

/// One maintainer and the key mail to them is encrypted to.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub address: String,
    pub cert: Cert,
}

/// The maintainers, in configuration order.
#[derive(Debug, Clone, Default)]
pub struct Team {
    members: Vec<Member>,
}

impl Team {
    /// Loads every maintainer's key; a missing, unreadable or unusable key stops the
    /// start-up, since mail to that maintainer could never be sent encrypted.
    pub fn load(maintainers: &[Maintainer]) -> Result<Team, TeamError> {
        let mut members = Vec::new();
        for m in maintainers {
            let fail = |reason: String| TeamError::Key {
                address: m.address.clone(),
                path: m.key.clone(),
                reason,
            };
            let bytes = std::fs::read(&m.key).map_err(|e| fail(e.to_string()))?;
            let cert = super::parse_certs(&bytes)
                .0
                .into_iter()
                .next()
                .ok_or_else(|| fail("no OpenPGP certificate in it".into()))?
                .strip_secret_key_material();
            if !super::can_encrypt_to(&cert) {
                return Err(fail(
                    "the key has no valid encryption subkey (expired or revoked?)".into(),
                ));
            }
            if !super::cert_has_address(&cert, &m.address) {
                tracing::warn!(
                    maintainer = %m.address,
                    fingerprint = %cert.fingerprint(),
                    "the maintainer's key has no user ID with their address; using it all the same"
                );
            }
            members.push(Member {
                name: m.name.clone(),
                address: m.address.clone(),
                cert,
            });
        }
        Ok(Team { members })
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The maintainer with this address (case-insensitive).
    pub fn member(&self, address: &str) -> Option<&Member> {
        self.members
            .iter()
            .find(|m| m.address.eq_ignore_ascii_case(address))
    }

    /// The maintainer whose key made a signature, by the signing key's fingerprint.
    pub fn by_fingerprint(&self, fingerprint: &str) -> Option<&Member> {
        self.members.iter().find(|m| {
            m.cert.keys().any(|k| {
                k.key()
                    .fingerprint()
                    .to_hex()
                    .eq_ignore_ascii_case(fingerprint)
            })
        })
    }
}
