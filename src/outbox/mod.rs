//! The outbox: what the gateway says (acknowledgements, "could not read" notices), and
//! delivering it from the durable queue in the store.
//!
//! Every outgoing message is queued in the store, in the same transaction as the
//! outcome it answers, before any attempt to send it. A job is rendered once (the
//! bytes and Message-ID are saved with it, so a retry sends the same message), its try
//! is counted before the attempt, and it is marked sent only after the transport
//! accepted it.
//!
//! Delivery is at least once: a crash after the transport accepted a message and
//! before the store recorded it sends it again. Sends go in batches of
//! [`DURABLE_BATCH`], each recorded durably before the next starts, so a crash repeats
//! at most one batch, and no message more than once.

//!
//! # Layout
//! - `transport`: file, SMTP or sendmail, and which failures are final.
//! - `delivery`: delivery rounds, batches and the retry schedule.
//! - `render`: a job rendered into its message; `ack`: the acknowledgement;
//!   `notify` and `digest`: maintainers' mail; `compose`: headers, MIME and sealing.

mod ack;
pub(crate) mod compose;
mod delivery;
pub(crate) mod digest;
pub(crate) mod file;
pub(crate) mod notify;
mod render;
pub(crate) mod stats;
mod transport;

use crate::config::Settings;
use crate::crypto::{Keyring, Team, seal::SealError};
use crate::store::{JobKind, Store, StoreError};

pub(crate) use ack::{clocks_text, follow_up_text};
pub(crate) use compose::subject_title;
pub(crate) use delivery::Delivered;
pub use delivery::{DURABLE_BATCH, deliver_due};
pub(crate) use render::{answer_cert, answer_key_refusal};
pub(crate) use transport::Transport;

/// The subject of a status mail: it says what it is ("[VR-2026-0042] Status:
/// accepted"). Encrypted, the outer subject says only "Status update".
pub(crate) fn status_subject(id: &crate::store::ReportId, status: crate::store::Status) -> String {
    format!("[{id}] Status: {}", status.as_str())
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("the gateway has no signing key")]
    NoSigningKey,
    #[error("cannot compose message: {0}")]
    Compose(String),
    #[error("recipient address is not usable: {0}")]
    BadRecipient(String),
    #[error(transparent)]
    Seal(#[from] SealError),
    /// A temporary failure: network trouble, a 4xx reply, a timeout. Retried.
    #[error("delivery failed, will retry: {0}")]
    Transport(String),
    /// The server refused the message for good (5xx). Not retried.
    #[error("rejected by the server: {0}")]
    Rejected(String),
    #[error("cannot set up the transport: {0}")]
    Setup(String),
    #[error(transparent)]
    Secret(#[from] crate::config::SecretError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl OutboxError {
    /// A failure that will not change by trying again: park the job.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            OutboxError::BadRecipient(_) | OutboxError::Compose(_) | OutboxError::Rejected(_)
        )
    }
}

/// What rendering and sending need besides the job.
pub struct Context<'a> {
    pub store: &'a Store,
    pub settings: &'a Settings,
    pub keyring: &'a Keyring,
    pub team: &'a Team,
    pub transport: &'a Transport,
    /// What is being worked on now, for the watchdog: each job while it is rendered
    /// and sent.
    pub handling: &'a crate::store::Handling,
}

pub(crate) fn kind_name(kind: &JobKind) -> &'static str {
    match kind {
        JobKind::Ack => "acknowledgement",
        JobKind::Unreadable { .. } => "unreadable_notice",
        JobKind::KeyRequest { .. } => "key_answer",
        JobKind::Reply => "reply",
        JobKind::NewReport => "new_report_notice",
        JobKind::FollowUp { .. } => "follow_up_notice",
        JobKind::Escalation { .. } => "escalation",
        JobKind::Digest { .. } => "digest",
        JobKind::TeamNotice { .. } => "team_notice",
    }
}

/// A fresh Message-ID in the gateway's domain.
pub(crate) fn new_message_id(settings: &Settings, tag: &str) -> String {
    format!(
        "disclosured.{tag}.{:016x}@{}",
        rand::random::<u64>(),
        gateway_domain(settings)
    )
}

/// The Message-ID of the new-report notification of `report` to one maintainer: all
/// later mail to that maintainer about the report answers it, so their client
/// threads the report's conversation under its first notification. Derived, not
/// stored: a retried notification keeps it, and the address is hashed so the ID
/// does not name the maintainer.
pub(crate) fn thread_root(settings: &Settings, report: &str, maintainer: &str) -> String {
    use sha2::Digest as _;
    let who = sha2::Sha256::digest(maintainer.to_ascii_lowercase().as_bytes());
    format!(
        "disclosured.{}.{}@{}",
        report.to_ascii_lowercase(),
        hex::encode(who.get(..6).unwrap_or_default()),
        gateway_domain(settings)
    )
}

/// The domain of the gateway's address: where our Message-IDs are made.
fn gateway_domain(settings: &Settings) -> &str {
    settings
        .gateway
        .address
        .rsplit_once('@')
        .map_or("localhost", |(_, d)| d)
}
