//! Reporters' certificates as the gateway keeps them: which key may have made a
//! signature, and the bounded copy that is stored.
//!
//! A certificate from a message is hostile input. Anyone can bind any public key as
//! an *encryption* subkey of their own certificate (no back-signature is needed), and
//! anyone can append user IDs, subkeys and signatures to a copy of a certificate. So a
//! key is looked up only as a signing key with a valid binding under [`POLICY`]
//! (which checks the back-signature), certificates are indexed by their primary
//! fingerprint, and what is stored is a minimal copy with bounded parts.

use sequoia_openpgp as openpgp;

use openpgp::packet::{Packet, Signature, UserID};
use openpgp::{Cert, KeyHandle};

use super::POLICY;

/// User IDs kept in a stored certificate.
pub(crate) const MAX_USERIDS: usize = 4;
/// Subkeys kept in a stored certificate.
pub(crate) const MAX_SUBKEYS: usize = 8;
/// Revocations kept per component: one is enough to revoke; a few allow for a
/// reason being restated.
const MAX_REVOCATIONS: usize = 2;

/// Whether `cert` holds `handle` as a key that may make signatures now: bound under
/// the policy (a signing subkey's back-signature checked) and flagged for signing.
/// A key merely present in the certificate, such as someone else's public key bound
/// as an encryption subkey, does not count.
pub(crate) fn signs_with(cert: &Cert, handle: &KeyHandle) -> bool {
    cert.keys()
        .with_policy(&POLICY, None)
        .for_signing()
        .key_handle(handle.clone())
        .next()
        .is_some()
}

/// The handles (key ID and fingerprint, upper-case hex) of every key of `cert` that
/// [`signs_with`] accepts: what a signature's issuer is looked up by.
pub(crate) fn signing_handles(cert: &Cert) -> Vec<String> {
    let mut out = Vec::new();
    for ka in cert.keys().with_policy(&POLICY, None).for_signing() {
        out.push(ka.key().keyid().to_hex());
        out.push(ka.key().fingerprint().to_hex());
    }
    out
}

/// A bounded copy of `cert` for keeping: the primary key, its current self-signature
/// and revocations; at most [`MAX_USERIDS`] user IDs that `keep_userid` accepts (the
/// primary user ID when none is accepted, because a GnuPG key's self-signature lives
/// on its user ID), each with its current binding and revocations; at most
/// [`MAX_SUBKEYS`] subkeys validly bound, with their binding and revocations. Third-party
/// certifications and superseded self-signatures are dropped.
///
/// Merging two minimal copies and taking the minimal copy again stays within the same
/// bounds, so repeated merges cannot grow a stored key. `None` when the certificate
/// has no valid self-signature under the policy (nothing in it could be trusted).
pub(crate) fn minimal(cert: &Cert, keep_userid: impl Fn(&UserID) -> bool) -> Option<Cert> {
    let valid = cert.with_policy(&POLICY, None).ok()?;
    let cert = cert.clone().strip_secret_key_material();
    let primary = cert.primary_key();
    let mut packets: Vec<Packet> = vec![primary.key().clone().into()];
    if let Ok(sig) = valid.direct_key_signature() {
        packets.push(sig.clone().into());
    }
    packets.extend(
        primary
            .self_revocations()
            .take(MAX_REVOCATIONS)
            .cloned()
            .map(Packet::from),
    );

    let mut userids = 0;
    for ua in valid.userids() {
        if userids >= MAX_USERIDS {
            break;
        }
        if !keep_userid(ua.userid()) {
            continue;
        }
        userids += 1;
        packets.push(ua.userid().clone().into());
        packets.push(ua.binding_signature().clone().into());
        packets.extend(
            ua.self_revocations()
                .take(MAX_REVOCATIONS)
                .cloned()
                .map(Packet::from),
        );
    }
    if userids == 0
        && let Ok(ua) = valid.primary_userid()
    {
        packets.push(ua.userid().clone().into());
        packets.push(ua.binding_signature().clone().into());
    }

    for ka in valid.keys().subkeys().take(MAX_SUBKEYS) {
        packets.push(ka.key().clone().into());
        packets.push(ka.binding_signature().clone().into());
        packets.extend(
            ka.self_revocations()
                .take(MAX_REVOCATIONS)
                .cloned()
                .map(Packet::from),
        );
    }
    Cert::from_packets(packets.into_iter()).ok()
}

/// For a certificate kept by an earlier version: the handles of its signing keys,
/// and its bounded copy when that is smaller than `bytes`.
pub(crate) fn reindex(bytes: &[u8]) -> (Vec<String>, Option<Vec<u8>>) {
    use openpgp::serialize::SerializeInto;
    let mut handles = Vec::new();
    let mut smaller = None;
    for cert in super::parse_certs(bytes).0 {
        handles.extend(signing_handles(&cert));
        if let Some(small) = minimal(&cert, |_| true)
            && let Ok(small) = small.to_vec()
            && small.len() < bytes.len()
        {
            smaller = Some(small);
        }
    }
    (handles, smaller)
}

/// Whether a user ID is for `address` (case-insensitive).
pub(crate) fn userid_is_for(userid: &UserID, address: &str) -> bool {
    userid
        .email_normalized()
        .ok()
        .flatten()
        .is_some_and(|e| e.eq_ignore_ascii_case(address))
}

/// `stored` and `new` (copies of the same certificate) merged, then made minimal again:
/// user IDs for `address` and those already kept. A merge that fails keeps `stored`.
pub(crate) fn merge_bounded(stored: Option<Cert>, new: &Cert, address: &str) -> Option<Cert> {
    let kept: Vec<UserID> = stored
        .as_ref()
        .map(|c| c.userids().map(|u| u.userid().clone()).collect())
        .unwrap_or_default();
    let merged = match stored {
        Some(s) if s.fingerprint() == new.fingerprint() => {
            match s.clone().merge_public(new.clone()) {
                Ok(m) => m,
                Err(_) => s,
            }
        }
        _ => new.clone(),
    };
    minimal(&merged, |u| kept.contains(u) || userid_is_for(u, address))
}

/// Revocations a message may carry on their own (`gpg --gen-revoke` output, or the
/// revocation GnuPG stores beside each new key): key and subkey revocation signatures
/// among the packets of `bytes`, armored or binary. At most [`MAX_OFFERED_REVOCATIONS`].
pub(crate) fn revocation_signatures(bytes: &[u8]) -> Vec<Signature> {
    use openpgp::parse::{PacketParserResult, Parse};
    use openpgp::types::SignatureType;
    let mut out = Vec::new();
    let Ok(mut ppr) = openpgp::parse::PacketParser::from_bytes(bytes) else {
        return out;
    };
    while let PacketParserResult::Some(pp) = ppr {
        let Ok((packet, next)) = pp.next() else {
            break;
        };
        if let Packet::Signature(sig) = packet
            && matches!(
                sig.typ(),
                SignatureType::KeyRevocation | SignatureType::SubkeyRevocation
            )
        {
            out.push(sig);
            if out.len() >= MAX_OFFERED_REVOCATIONS {
                break;
            }
        }
        ppr = next;
    }
    out
}

/// Revocations taken from one message, at most.
pub(crate) const MAX_OFFERED_REVOCATIONS: usize = 8;

/// `kept` with every revocation among `signatures` and in `copies` (other copies of
/// the same certificate) that its primary key validly made: of the primary key, or
/// of one of its subkeys. A revocation can only take trust away, so it is merged
/// from wherever it comes. `None` when nothing new was added.
pub(crate) fn with_revocations(
    kept: &Cert,
    signatures: &[Signature],
    copies: &[Cert],
) -> Option<Cert> {
    use openpgp::types::SignatureType;
    let primary = kept.primary_key().key();
    let mut candidates: Vec<Signature> = signatures.to_vec();
    for copy in copies
        .iter()
        .filter(|c| c.fingerprint() == kept.fingerprint())
    {
        candidates.extend(copy.primary_key().self_revocations().cloned());
        for sub in copy.keys().subkeys() {
            candidates.extend(sub.self_revocations().cloned());
        }
    }
    let known: Vec<&Signature> = kept
        .primary_key()
        .self_revocations()
        .chain(kept.keys().subkeys().flat_map(|k| k.self_revocations()))
        .collect();
    let mut valid: Vec<Packet> = Vec::new();
    for sig in candidates {
        if known.iter().any(|k| k.normalized_eq(&sig))
            || valid
                .iter()
                .any(|p| matches!(p, Packet::Signature(v) if v.normalized_eq(&sig)))
        {
            continue;
        }
        let good = match sig.typ() {
            SignatureType::KeyRevocation => sig
                .clone()
                .verify_primary_key_revocation(primary, primary)
                .is_ok(),
            SignatureType::SubkeyRevocation => kept.keys().subkeys().any(|sub| {
                sig.clone()
                    .verify_subkey_revocation(primary, primary, sub.key())
                    .is_ok()
            }),
            _ => false,
        };
        if good && valid.len() < MAX_OFFERED_REVOCATIONS {
            valid.push(sig.into());
        }
    }
    if valid.is_empty() {
        return None;
    }
    kept.clone().insert_packets(valid).ok().map(|(c, _)| c)
}

/// Why an answer must not be encrypted to `cert`, when it must not: revoked, expired,
/// or with no key that can encrypt now. Checked for every answer, whatever the
/// certificate was when the report proved it.
pub(crate) fn answer_refusal(cert: &Cert) -> Option<String> {
    use openpgp::types::RevocationStatus;
    let fpr = cert.fingerprint().to_hex();
    let Ok(valid) = cert.with_policy(&POLICY, None) else {
        return Some(format!("the key {fpr} is no longer valid"));
    };
    if let RevocationStatus::Revoked(_) = valid.revocation_status() {
        return Some(format!("the key {fpr} has been revoked"));
    }
    if valid.alive().is_err() {
        return Some(format!("the key {fpr} has expired"));
    }
    if !super::can_encrypt_to(cert) {
        return Some(format!(
            "the key {fpr} has no encryption key that is valid now (revoked or expired)"
        ));
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use openpgp::cert::CertBuilder;
    use openpgp::serialize::SerializeInto;

    fn cert(uid: &str) -> Cert {
        CertBuilder::general_purpose(Some(uid))
            .generate()
            .unwrap()
            .0
    }

    /// `cert` with `n` more user IDs, each properly self-signed.
    fn with_userids(cert: &Cert, n: usize) -> Cert {
        let mut signer = cert
            .primary_key()
            .key()
            .clone()
            .parts_into_secret()
            .unwrap()
            .into_keypair()
            .unwrap();
        let mut packets: Vec<Packet> = Vec::new();
        for i in 0..n {
            let uid = UserID::from(format!("Noise {i} <noise{i}@example.com>"));
            let sig = uid
                .bind(
                    &mut signer,
                    cert,
                    openpgp::packet::signature::SignatureBuilder::new(
                        openpgp::types::SignatureType::PositiveCertification,
                    ),
                )
                .unwrap();
            packets.push(uid.into());
            packets.push(sig.into());
        }
        cert.clone().insert_packets(packets).unwrap().0
    }

    #[test]
    fn minimal_copy_keeps_the_sender_and_drops_the_noise() {
        let alice = cert("Alice <alice@example.net>");
        let noisy = with_userids(&alice, 200);
        assert_eq!(noisy.userids().count(), 201);
        let small = minimal(&noisy, |u| userid_is_for(u, "alice@example.net")).unwrap();
        assert_eq!(small.fingerprint(), alice.fingerprint());
        assert_eq!(small.userids().count(), 1);
        assert!(super::super::can_encrypt_to(&small));
        assert!(small.to_vec().unwrap().len() < noisy.to_vec().unwrap().len() / 20);
    }

    #[test]
    fn repeated_merges_stay_bounded() {
        let alice = cert("Alice <alice@example.net>");
        let mut stored = minimal(&alice, |_| true);
        let first = stored.as_ref().unwrap().to_vec().unwrap().len();
        for _ in 0..20 {
            let noisy = with_userids(&alice, 50);
            stored = merge_bounded(stored, &noisy, "alice@example.net");
        }
        let stored = stored.unwrap();
        assert_eq!(stored.userids().count(), 1);
        assert_eq!(stored.to_vec().unwrap().len(), first);
    }

    #[test]
    fn only_signing_keys_with_a_valid_binding_are_signers() {
        let alice = cert("Alice <alice@example.net>");
        let signing = alice
            .keys()
            .with_policy(&POLICY, None)
            .for_signing()
            .next()
            .unwrap()
            .key()
            .key_handle();
        let encryption = alice
            .keys()
            .with_policy(&POLICY, None)
            .for_transport_encryption()
            .next()
            .unwrap()
            .key()
            .key_handle();
        assert!(signs_with(&alice, &signing));
        assert!(!signs_with(&alice, &encryption));
        let handles = signing_handles(&alice);
        assert!(handles.contains(&signing.to_hex()));
        assert!(!handles.contains(&encryption.to_hex()));
    }
}
