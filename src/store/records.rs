//! The records the store keeps, as serialised (JSON behind a schema-version byte).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::crypto::{KeySource, SignatureStatus, open::Form};
use crate::extract::{FieldName, Fields};
use crate::intake::Mailbox;

/// A report's human-friendly identifier, e.g. `VR-2026-0001`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReportId(String);

impl ReportId {
    pub fn new(prefix: &str, year: u16, seq: u32) -> ReportId {
        ReportId(format!("{prefix}-{year:04}-{seq:04}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The year and sequence number of an ID such as `VR-2026-0001`, whatever the
    /// prefix.
    pub fn parse_numbers(id: &str) -> Option<(u16, u32)> {
        let mut parts = id.trim().rsplitn(3, '-');
        let seq = parts.next()?.parse().ok()?;
        let year = parts.next()?.parse().ok()?;
        let prefix = parts.next()?;
        (!prefix.is_empty()).then_some((year, seq))
    }
}

impl std::fmt::Display for ReportId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What became of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeRef {
    Report(ReportId),
    /// An entry of the intake log (quarantined or skipped), by sequence number.
    Intake(u64),
}

impl std::fmt::Display for OutcomeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutcomeRef::Report(id) => write!(f, "report {id}"),
            OutcomeRef::Intake(n) => write!(f, "intake record {n}"),
        }
    }
}

/// A report's place in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    New,
    Acknowledged,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Acknowledged => "acknowledged",
        }
    }
}

/// One line of a report's append-only history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub at: DateTime<Utc>,
    /// `system`, a maintainer's address, or `cli:<user>`.
    pub actor: String,
    pub kind: String,
    pub note: Option<String>,
}

/// A file that came with a report; its bytes are in the store under `sha256`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentMeta {
    pub name: Option<String>,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
}

/// The policy deadlines computed when the report arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadlines {
    pub acknowledge: DateTime<Utc>,
    pub initial_assessment: DateTime<Utc>,
}

/// A report as the pipeline hands it to the store, before it has an ID.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewReport {
    pub received_at: DateTime<Utc>,
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
    pub subject: Option<String>,
    pub message_id: Option<String>,
    pub content_sha256: String,
    pub form: Form,
    pub encrypted: bool,
    pub decrypted_with: Option<String>,
    pub signature: SignatureStatus,
    /// False when text or files came outside the signed part (see `crypto::open`).
    #[serde(default)]
    pub signature_covers_all: bool,
    pub signer_fingerprint: Option<String>,
    pub signer_key_source: Option<KeySource>,
    /// Whether the signing key has a user ID with the sender's address.
    #[serde(default)]
    pub signer_matches_from: bool,
    /// The key acknowledgements are encrypted to, when we know one.
    pub reporter_key: Option<String>,
    pub fields: Fields,
    pub missing: Vec<FieldName>,
    pub attachments: Vec<AttachmentMeta>,
    /// The decrypted text, for maintainers. Never logged.
    pub body: String,
    pub source_file: Option<String>,
    pub deadlines: Deadlines,
    /// No acknowledgement was queued: the sender was over the rate limits.
    #[serde(default)]
    pub suppressed_ack: bool,
}

/// A stored report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub id: ReportId,
    pub status: Status,
    #[serde(flatten)]
    pub data: NewReport,
    pub events: Vec<Event>,
}

impl NewReport {
    pub(super) fn into_report(self, id: ReportId) -> Report {
        let at = self.received_at;
        let mut events = vec![Event {
            at,
            actor: "system".into(),
            kind: "received".into(),
            note: None,
        }];
        if self.suppressed_ack {
            events.push(Event {
                at,
                actor: "system".into(),
                kind: "acknowledgement_suppressed".into(),
                note: Some("sender over the rate limit for automatic mail".into()),
            });
        }
        Report {
            id,
            status: Status::New,
            data: self,
            events,
        }
    }
}

/// Whether a message that is not a report was refused or just not answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntakeKind {
    /// Could not be handled (unreadable, undecryptable, malformed): moved to the
    /// quarantine folder.
    Quarantined,
    /// Handled but deliberately not answered (auto-replies, bulk mail, loops).
    Skipped,
}

/// A message that did not become a report, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntakeRecord {
    pub at: DateTime<Utc>,
    pub kind: IntakeKind,
    pub reason: String,
    /// Where the raw message is now.
    pub file: Option<String>,
    pub message_id: Option<String>,
    pub from: Option<String>,
    pub content_sha256: String,
}

/// What an outgoing message is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// The acknowledgement of the report in `Job::outcome`.
    Ack,
    /// "We could not read your message", with our public key.
    Unreadable {
        reason: String,
        in_reply_to: Option<String>,
        references: Vec<String>,
        subject: Option<String>,
    },
}

/// Delivery state of an outgoing message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Pending,
    Sent,
    /// Given up: a permanent failure or the expiry passed.
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Sent => "sent",
            JobState::Failed => "failed",
        }
    }
}

/// An outgoing message as the pipeline queues it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub kind: JobKind,
    pub to: String,
    pub at: DateTime<Utc>,
}

impl NewJob {
    pub(super) fn into_job(self, id: u64, outcome: Option<OutcomeRef>) -> Job {
        Job {
            id,
            created_at: self.at,
            kind: self.kind,
            outcome,
            to: self.to,
            state: JobState::Pending,
            tries: 0,
            next_attempt: self.at,
            last_error: None,
            message_id: None,
            message: None,
            sent_at: None,
        }
    }
}

/// An outgoing message in the durable queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: u64,
    pub created_at: DateTime<Utc>,
    pub kind: JobKind,
    /// The report or intake record this message is about.
    pub outcome: Option<OutcomeRef>,
    pub to: String,
    pub state: JobState,
    /// Attempts made so far, counted before each attempt.
    pub tries: u32,
    pub next_attempt: DateTime<Utc>,
    pub last_error: Option<String>,
    /// Message-ID of the rendered message (stable across retries).
    pub message_id: Option<String>,
    /// The rendered message, kept so every retry sends the same bytes.
    pub message: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
}
