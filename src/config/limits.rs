//! `[limits]` and `[rate_limits]`: bounds on what one message may make the gateway do,
//! and on how much automatic mail it sends.

use std::time::Duration;

use serde::Deserialize;

/// Bounds on what one message may make the gateway do, each checked before the
/// expensive work it protects. A message over a limit is quarantined with a reason
/// that names the limit. Deserialized as it is from `[limits]`: a field's name is its
/// key (see [`Limit::key`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub max_message_bytes: u64,
    pub max_header_bytes: u64,
    pub max_line_bytes: u64,
    pub max_mime_depth: u64,
    pub max_parts: u64,
    pub max_attachments: u64,
    /// All attachments of one message together.
    pub max_attachment_bytes: u64,
    /// All decrypted and decompressed OpenPGP output of one message together.
    pub max_decompressed_bytes: u64,
    /// OpenPGP layers (encryption, signatures, PGP/MIME wrappers) inside each other.
    pub max_openpgp_layers: u64,
    /// Recipients (PKESKs) tried when decrypting.
    pub max_recipients: u64,
    /// Size of one key a message offers; larger ones are ignored.
    pub max_key_bytes: u64,
    /// Keys one message may offer; the rest are ignored.
    pub max_keys: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 25 * 1024 * 1024,
            max_header_bytes: 256 * 1024,
            max_line_bytes: 1024 * 1024,
            max_mime_depth: 10,
            max_parts: 200,
            max_attachments: 50,
            max_attachment_bytes: 25 * 1024 * 1024,
            max_decompressed_bytes: 64 * 1024 * 1024,
            max_openpgp_layers: 4,
            max_recipients: 16,
            max_key_bytes: 64 * 1024,
            max_keys: 4,
        }
    }
}

/// One of the [`Limits`], by name: a check names the limit it applies, and its
/// message names the configuration key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// The variants mirror the TOML keys (`max_parts`, ...), which all begin with `max_`.
#[allow(clippy::enum_variant_names)]
pub enum Limit {
    MaxMessageBytes,
    MaxHeaderBytes,
    MaxLineBytes,
    MaxMimeDepth,
    MaxParts,
    MaxAttachments,
    MaxAttachmentBytes,
    MaxDecompressedBytes,
    MaxOpenpgpLayers,
    MaxRecipients,
    MaxKeyBytes,
    MaxKeys,
}

impl Limit {
    /// Every limit, in the order of `[limits]`.
    pub const ALL: [Limit; 12] = [
        Limit::MaxMessageBytes,
        Limit::MaxHeaderBytes,
        Limit::MaxLineBytes,
        Limit::MaxMimeDepth,
        Limit::MaxParts,
        Limit::MaxAttachments,
        Limit::MaxAttachmentBytes,
        Limit::MaxDecompressedBytes,
        Limit::MaxOpenpgpLayers,
        Limit::MaxRecipients,
        Limit::MaxKeyBytes,
        Limit::MaxKeys,
    ];

    /// Its key in `[limits]` (the name of its field in [`Limits`]).
    pub fn key(self) -> &'static str {
        match self {
            Limit::MaxMessageBytes => "max_message_bytes",
            Limit::MaxHeaderBytes => "max_header_bytes",
            Limit::MaxLineBytes => "max_line_bytes",
            Limit::MaxMimeDepth => "max_mime_depth",
            Limit::MaxParts => "max_parts",
            Limit::MaxAttachments => "max_attachments",
            Limit::MaxAttachmentBytes => "max_attachment_bytes",
            Limit::MaxDecompressedBytes => "max_decompressed_bytes",
            Limit::MaxOpenpgpLayers => "max_openpgp_layers",
            Limit::MaxRecipients => "max_recipients",
            Limit::MaxKeyBytes => "max_key_bytes",
            Limit::MaxKeys => "max_keys",
        }
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

/// A limit a message went over: quarantine reasons name the configuration key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("over the limit limits.{key} = {limit} ({what} {actual})")]
pub struct LimitExceeded {
    pub key: Limit,
    pub limit: u64,
    pub what: &'static str,
    pub actual: u64,
}

impl Limits {
    /// The value of `limit`.
    pub fn get(&self, limit: Limit) -> u64 {
        match limit {
            Limit::MaxMessageBytes => self.max_message_bytes,
            Limit::MaxHeaderBytes => self.max_header_bytes,
            Limit::MaxLineBytes => self.max_line_bytes,
            Limit::MaxMimeDepth => self.max_mime_depth,
            Limit::MaxParts => self.max_parts,
            Limit::MaxAttachments => self.max_attachments,
            Limit::MaxAttachmentBytes => self.max_attachment_bytes,
            Limit::MaxDecompressedBytes => self.max_decompressed_bytes,
            Limit::MaxOpenpgpLayers => self.max_openpgp_layers,
            Limit::MaxRecipients => self.max_recipients,
            Limit::MaxKeyBytes => self.max_key_bytes,
            Limit::MaxKeys => self.max_keys,
        }
    }

    /// `Err` naming the limit when `actual` (a count of `what`) is over `limit`.
    pub fn check(
        &self,
        limit: Limit,
        what: &'static str,
        actual: u64,
    ) -> Result<(), LimitExceeded> {
        let value = self.get(limit);
        if actual > value {
            Err(LimitExceeded {
                key: limit,
                limit: value,
                what,
                actual,
            })
        } else {
            Ok(())
        }
    }

    /// The problems of limits that must not be zero (a message could never pass).
    pub(super) fn problems(&self, problems: &mut Vec<String>) {
        for limit in [
            Limit::MaxMessageBytes,
            Limit::MaxHeaderBytes,
            Limit::MaxLineBytes,
            Limit::MaxMimeDepth,
            Limit::MaxParts,
            Limit::MaxDecompressedBytes,
            Limit::MaxOpenpgpLayers,
            Limit::MaxRecipients,
        ] {
            if self.get(limit) == 0 {
                problems.push(format!("limits.{limit}: must be more than zero"));
            }
        }
    }
}

/// How much automatic mail the gateway may send, so that a flood of forged reports
/// cannot turn it into a source of backscatter. Excess is recorded, not sent.
#[derive(Debug, Clone)]
pub struct RateLimits {
    /// Per mailbox: case-folded, with any `+tag` removed.
    pub per_sender: u64,
    pub per_sender_window: Duration,
    /// All mailboxes of one domain together.
    pub per_domain: u64,
    pub per_domain_window: Duration,
    pub global: u64,
    pub global_window: Duration,
    /// At most one "could not read" notice per address in this window.
    pub notice_window: Duration,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn limits_name_the_key() {
        let l = Limits::default();
        assert!(l.check(Limit::MaxParts, "parts", 200).is_ok());
        let e = l
            .check(Limit::MaxParts, "parts", 201)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "over the limit limits.max_parts = 200 (parts 201)");
    }

    /// Each limit's key is the field `[limits]` sets: the two lists cannot drift apart.
    #[test]
    fn every_limit_reads_the_key_it_names() {
        for (n, limit) in Limit::ALL.into_iter().enumerate() {
            let toml: String = Limit::ALL
                .iter()
                .map(|l| format!("{} = {}\n", l.key(), if *l == limit { 1000 + n } else { 1 }))
                .collect();
            let limits: Limits = config::Config::builder()
                .add_source(config::File::from_str(&toml, config::FileFormat::Toml))
                .build()
                .unwrap()
                .try_deserialize()
                .unwrap();
            for other in Limit::ALL {
                let want = if other == limit { 1000 + n as u64 } else { 1 };
                assert_eq!(limits.get(other), want, "{limit}: {other}");
            }
        }
    }
}
