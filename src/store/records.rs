//! The records the store keeps, as serialised (JSON behind a schema-version byte).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::crypto::{KeySource, SignatureStatus, open::Form};
use crate::extract::{Cvss, FieldName, Fields, Severity};
use crate::intake::Mailbox;
pub(crate) use crate::policy::{DeadlineName, Deadlines, Hint};

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

    /// An ID as someone wrote it (a command's argument, a subject tag), kept as
    /// written; `None` when it has no year and number. The store finds the report by
    /// those numbers and still requires the whole ID to match, in any case.
    pub fn parse(id: &str) -> Option<ReportId> {
        ReportId::parse_numbers(id).map(|_| ReportId(id.to_string()))
    }

    /// An ID as the store wrote it.
    pub(crate) fn from_stored(id: String) -> ReportId {
        ReportId(id)
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

/// A report's place in its lifecycle:
/// `new → acknowledged → triaged → accepted | rejected → fixed → disclosed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    New,
    Acknowledged,
    Triaged,
    Accepted,
    Rejected,
    Fixed,
    Disclosed,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::New,
        Status::Acknowledged,
        Status::Triaged,
        Status::Accepted,
        Status::Rejected,
        Status::Fixed,
        Status::Disclosed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Acknowledged => "acknowledged",
            Status::Triaged => "triaged",
            Status::Accepted => "accepted",
            Status::Rejected => "rejected",
            Status::Fixed => "fixed",
            Status::Disclosed => "disclosed",
        }
    }

    /// The states a maintainer may move a report to from this one. `acknowledged` is
    /// the gateway's to set (when the acknowledgement is sent); a rejected report may
    /// be reopened as `triaged`.
    pub fn next(self) -> &'static [Status] {
        match self {
            Status::New | Status::Acknowledged => &[Status::Triaged, Status::Rejected],
            Status::Triaged => &[Status::Accepted, Status::Rejected],
            Status::Accepted => &[Status::Fixed, Status::Rejected],
            Status::Rejected => &[Status::Triaged],
            Status::Fixed => &[Status::Disclosed],
            Status::Disclosed => &[],
        }
    }

    /// Whether the report's work is over (no deadline applies any more).
    pub fn is_closed(self) -> bool {
        matches!(self, Status::Rejected | Status::Disclosed)
    }
}

impl std::str::FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Status, String> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "{s:?} is not a status ({})",
                    Status::ALL.map(Status::as_str).join(", ")
                )
            })
    }
}

/// Why a report was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum RejectReason {
    OutOfScope,
    /// A duplicate of an earlier report.
    Duplicate {
        of: ReportId,
    },
    NotReproducible,
    Informative,
    Spam,
}

impl RejectReason {
    pub const NAMES: [&'static str; 5] = [
        "out_of_scope",
        "duplicate",
        "not_reproducible",
        "informative",
        "spam",
    ];

    /// Parses a reason name; `duplicate` needs the report it duplicates.
    pub fn parse(name: &str, duplicate_of: Option<ReportId>) -> Result<RejectReason, String> {
        match (name.trim(), duplicate_of) {
            ("out_of_scope", None) => Ok(RejectReason::OutOfScope),
            ("duplicate", Some(of)) => Ok(RejectReason::Duplicate { of }),
            ("duplicate", None) => Err("a duplicate needs the report it duplicates".into()),
            ("not_reproducible", None) => Ok(RejectReason::NotReproducible),
            ("informative", None) => Ok(RejectReason::Informative),
            ("spam", None) => Ok(RejectReason::Spam),
            (other, None) => Err(format!(
                "{other:?} is not a rejection reason ({})",
                Self::NAMES.join(", ")
            )),
            (_, Some(_)) => Err("only a duplicate names another report".into()),
        }
    }
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RejectReason::OutOfScope => f.write_str("out_of_scope"),
            RejectReason::Duplicate { of } => write!(f, "duplicate of {of}"),
            RejectReason::NotReproducible => f.write_str("not_reproducible"),
            RejectReason::Informative => f.write_str("informative"),
            RejectReason::Spam => f.write_str("spam"),
        }
    }
}

/// One line of a report's append-only history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub at: DateTime<Utc>,
    /// `system`, a maintainer's address, or `cli:<user>`.
    pub actor: String,
    /// What happened: `received`, `acknowledged`, `status`, `severity`, ...
    #[serde(alias = "kind")]
    pub action: String,
    pub note: Option<String>,
}

impl Event {
    pub fn new(at: DateTime<Utc>, actor: &str, action: &str, note: Option<String>) -> Event {
        Event {
            at,
            actor: actor.to_string(),
            action: action.to_string(),
            note,
        }
    }
}

/// Which way a message of a report's correspondence went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the reporter.
    In,
    /// To the reporter.
    Out,
}

/// A message exchanged about a report after the first one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Correspondence {
    pub direction: Direction,
    pub at: DateTime<Utc>,
    pub from: String,
    pub to: String,
    pub message_id: Option<String>,
    pub subject: Option<String>,
    /// The decrypted text. Never logged.
    pub body: String,
    pub encrypted: bool,
    pub signature: SignatureStatus,
    pub signer_fingerprint: Option<String>,
    #[serde(default)]
    pub attachments: Vec<AttachmentMeta>,
    /// Who wrote an outgoing message (`cli:<user>` or a maintainer's address).
    pub actor: Option<String>,
}

/// One message of a report's conversation (see [`Report::conversation`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Turn<'a> {
    pub at: DateTime<Utc>,
    pub kind: TurnKind,
    /// The reporter's address, or who wrote an outgoing or internal message.
    pub who: &'a str,
    pub encrypted: bool,
    pub text: &'a str,
}

/// Who a message of the conversation was between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnKind {
    FromReporter,
    /// From the command line (`reports reply`).
    ToReporter,
    /// A maintainer's signed mail, relayed to the reporter.
    Relayed,
    /// Between maintainers only (`X-INTERNAL: yes`).
    Internal,
}

impl TurnKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TurnKind::FromReporter => "from the reporter",
            TurnKind::ToReporter => "to the reporter",
            TurnKind::Relayed => "relayed to the reporter",
            TurnKind::Internal => "internal (team only)",
        }
    }
}

/// What maintainers decided about a report, over what the report itself says.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Triage {
    /// Severity set by a maintainer; wins over the CVSS score and the stated one.
    pub severity: Option<Severity>,
    /// A CVSS vector set by a maintainer; wins over the reporter's.
    pub cvss: Option<Cvss>,
    pub assignee: Option<String>,
    pub reject_reason: Option<RejectReason>,
    /// What maintainers corrected or completed (title, versions, CWE, CVE, ...); wins
    /// over what the report says. Records from before this was kept have none.
    #[serde(default)]
    pub details: std::collections::BTreeMap<super::lifecycle::Detail, String>,
}

/// A file that came with a report; its bytes are in the store under `sha256`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentMeta {
    pub name: Option<String>,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
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
    /// The key answers are encrypted to: the [`NewReport::proven_key`] when that
    /// certificate can receive encrypted mail. (Earlier versions chose it by the From
    /// address; [`Report::answer_key`] ignores such a choice.)
    pub reporter_key: Option<String>,
    /// Primary fingerprint of the certificate this report proved: its key made a
    /// good signature over all of the report, inside the encryption when it was
    /// encrypted. Answers go to this certificate or to nobody's key; follow-ups must
    /// be signed by it.
    #[serde(default)]
    pub proven_key: Option<String>,
    /// Written by a version that decides [`NewReport::proven_key`]; false in older
    /// records, for which [`Report::proven_key`] falls back on the signature.
    #[serde(default)]
    pub proof_checked: bool,
    /// This report's message claimed to continue that report (its thread or its tag,
    /// from that report's address) but was not signed by the key that report proved:
    /// kept apart, for maintainers to judge.
    #[serde(default)]
    pub unverified_followup_of: Option<ReportId>,
    pub fields: Fields,
    pub missing: Vec<FieldName>,
    pub attachments: Vec<AttachmentMeta>,
    /// The decrypted text, for maintainers. Never logged.
    pub body: String,
    pub source_file: Option<String>,
    pub deadlines: Deadlines,
    /// Hints for maintainers (unsupported version, no proof of concept, scope).
    #[serde(default)]
    pub hints: Vec<Hint>,
    /// No acknowledgement was queued: the sender was over the rate limits.
    #[serde(default)]
    pub suppressed_ack: bool,
    /// The issuer (fingerprint, else key ID) of the report's signature when the
    /// gateway did not have that key: the message is kept (see
    /// [`Store::await_proof`]) so that the key, once it arrives, can still prove the
    /// report. Cleared when it did.
    #[serde(default)]
    pub unknown_signer: Option<String>,
}

/// A stored report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub id: ReportId,
    pub status: Status,
    #[serde(flatten)]
    pub data: NewReport,
    #[serde(default)]
    pub triage: Triage,
    #[serde(default)]
    pub correspondence: Vec<Correspondence>,
    /// When each milestone was reached (the deadline it meets is then `met`).
    #[serde(default)]
    pub milestones: std::collections::BTreeMap<DeadlineName, DateTime<Utc>>,
    /// Deadlines maintainers were already warned about: one escalation each.
    #[serde(default)]
    pub escalated: Vec<DeadlineName>,
    /// The embargo proposed, agreed or exited (see `store::embargo`); records from
    /// before embargoes were kept have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embargo: Option<super::embargo::Embargo>,
    /// Reminders sent to maintainers: `<deadline or embargo> <due time> <lead secs>`,
    /// so each lead time of each due time is reminded once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reminded: Vec<String>,
    pub events: Vec<Event>,
    /// How the researcher chose to be credited, by a reply signed with the key the
    /// report proved; `None`: they did not choose, and advisories credit nobody.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit: Option<super::CreditChoice>,
}

impl Report {
    /// The severity in force: a maintainer's, else the maintainer's CVSS vector's, else
    /// the report's CVSS score, else what the reporter stated. None is "unrated".
    pub fn severity(&self) -> Option<Severity> {
        self.triage
            .severity
            .or_else(|| self.triage.cvss.as_ref().map(|c| c.severity))
            .or_else(|| self.data.fields.severity())
    }

    pub fn cvss(&self) -> Option<&Cvss> {
        self.triage.cvss.as_ref().or(self.data.fields.cvss.as_ref())
    }

    /// The certificate this report proved, by primary fingerprint; also for records
    /// written before that was recorded, whose good signature covering everything is
    /// taken as the proof (their encryption layer was not told apart then).
    pub fn proven_key(&self) -> Option<&str> {
        let d = &self.data;
        if d.proof_checked {
            return d.proven_key.as_deref();
        }
        (d.signature == SignatureStatus::Good && d.signature_covers_all)
            .then_some(d.signer_fingerprint.as_deref())
            .flatten()
    }

    /// The only key an answer to this report may be encrypted to: the proven one,
    /// when it is the one recorded for answers. A key an earlier version picked by
    /// the From address alone is not used.
    pub fn answer_key(&self) -> Option<&str> {
        let proven = self.proven_key()?;
        self.data.reporter_key.as_deref().filter(|k| *k == proven)
    }

    /// Whether the gateway key `fingerprint` was sent to the researcher already
    /// (after `keys rotate`).
    pub fn key_announced(&self, fingerprint: &str) -> bool {
        self.events.iter().any(|e| {
            e.action == super::jobs::KEY_ANNOUNCED
                && e.note
                    .as_deref()
                    .is_some_and(|n| n.starts_with(fingerprint))
        })
    }

    /// The address answers go to.
    pub fn reporter_address(&self) -> &str {
        self.data
            .reply_to
            .as_ref()
            .map(|m| m.address.as_str())
            .unwrap_or(self.data.from.address.as_str())
    }

    /// Whether a deadline no longer applies.
    pub fn deadline_closed(&self, name: DeadlineName) -> bool {
        match name {
            DeadlineName::Acknowledge => false,
            DeadlineName::InitialAssessment => false,
            DeadlineName::Fix => self.status == Status::Rejected,
        }
    }

    /// The intervals the assessment and fix clocks were paused (see
    /// `policy::clocks`), from the events; the last is open while the team waits.
    pub fn pauses(&self) -> Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> {
        crate::policy::clocks::pauses(self.events.iter().map(|e| (e.at, e.action.as_str())))
    }

    /// Whether the team is waiting on the researcher (`needs_info`, not answered).
    pub fn waiting_on_researcher(&self) -> bool {
        self.pauses().last().is_some_and(|(_, end)| end.is_none())
    }

    /// Whether a deadline's clock stands still: the assessment and fix clocks while
    /// the team waits on the researcher.
    pub fn deadline_paused(&self, name: DeadlineName) -> bool {
        name != DeadlineName::Acknowledge && self.waiting_on_researcher()
    }

    /// Deadlines neither met, closed, paused nor escalated: what escalation watches.
    pub fn open_deadlines(&self) -> Vec<(DeadlineName, DateTime<Utc>)> {
        DeadlineName::ALL
            .into_iter()
            .filter_map(|n| self.data.deadlines.get(n).map(|at| (n, at)))
            .filter(|(n, _)| {
                !self.milestones.contains_key(n)
                    && !self.deadline_closed(*n)
                    && !self.deadline_paused(*n)
                    && !self.escalated.contains(n)
            })
            .collect()
    }

    /// Every deadline evaluated at `now`.
    pub fn deadline_status(
        &self,
        now: DateTime<Utc>,
    ) -> std::collections::BTreeMap<DeadlineName, crate::policy::DeadlineStatus> {
        crate::policy::evaluate(
            &self.data.deadlines,
            |n| self.milestones.get(&n).copied(),
            |n| self.deadline_closed(n),
            |n| self.deadline_paused(n),
            now,
        )
    }

    /// The whole conversation in time order: the reporter's messages, what went to
    /// the reporter (from the command line or relayed from a maintainer's signed
    /// mail), and the team's internal messages (`internal` events), for `reports show`.
    pub fn conversation(&self) -> Vec<Turn<'_>> {
        let mut turns: Vec<Turn<'_>> = self
            .correspondence
            .iter()
            .map(|c| Turn {
                at: c.at,
                kind: match (c.direction, c.actor.as_deref()) {
                    (Direction::In, _) => TurnKind::FromReporter,
                    (Direction::Out, Some(a)) if a.starts_with("mail:") => TurnKind::Relayed,
                    (Direction::Out, _) => TurnKind::ToReporter,
                },
                who: match c.direction {
                    Direction::In => c.from.as_str(),
                    Direction::Out => c.actor.as_deref().unwrap_or(c.from.as_str()),
                },
                encrypted: c.encrypted,
                text: c.body.as_str(),
            })
            .chain(
                self.events
                    .iter()
                    .filter(|e| e.action == "internal")
                    .map(|e| Turn {
                        at: e.at,
                        kind: TurnKind::Internal,
                        who: e.actor.as_str(),
                        encrypted: true,
                        text: e.note.as_deref().unwrap_or_default(),
                    }),
            )
            .collect();
        turns.sort_by_key(|t| t.at);
        turns
    }

    /// The Message-IDs of the report's thread, oldest first, for References.
    pub fn thread_ids(&self) -> Vec<String> {
        self.data
            .message_id
            .iter()
            .chain(
                self.correspondence
                    .iter()
                    .filter_map(|c| c.message_id.as_ref()),
            )
            .cloned()
            .collect()
    }
}

impl NewReport {
    pub(super) fn into_report(self, id: ReportId) -> Report {
        let at = self.received_at;
        let mut events = vec![Event::new(at, "system", "received", None)];
        if !self.hints.is_empty() {
            let hints: Vec<String> = self.hints.iter().map(|h| h.to_string()).collect();
            events.push(Event::new(at, "system", "hints", Some(hints.join("; "))));
        }
        if let Some(of) = &self.unverified_followup_of {
            events.push(Event::new(
                at,
                "system",
                "unverified_follow_up",
                Some(format!(
                    "claims to continue {of} from its address, but is not signed by the key {of} proved: kept as a report of its own"
                )),
            ));
        }
        if self.suppressed_ack {
            events.push(Event::new(
                at,
                "system",
                "acknowledgement_suppressed",
                Some("sender over the rate limit for automatic mail".into()),
            ));
        }
        let proposal = crate::policy::embargo::proposed_in(&self.body);
        let actor = self.from.address.clone();
        let mut report = Report {
            id,
            status: Status::New,
            data: self,
            triage: Triage::default(),
            correspondence: Vec::new(),
            milestones: Default::default(),
            escalated: Vec::new(),
            embargo: None,
            reminded: Vec::new(),
            events,
            credit: None,
        };
        // A "Disclosure date:" the researcher wrote is their proposal; the
        // acknowledgement tells them it was received (or could not be read).
        if let Some(proposed) = proposal {
            report.propose_embargo(proposed, &actor, at);
        }
        report
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
    /// A maintainer's message to the reporter; its text is the correspondence entry
    /// with the job's Message-ID.
    Reply,
    /// The full report, to one maintainer.
    NewReport,
    /// A reporter's follow-up (the correspondence entry with this Message-ID), to one
    /// maintainer.
    FollowUp { message_id: String },
    /// A deadline passed unmet, to one maintainer.
    Escalation { deadline: DeadlineName },
    /// The digest, to one maintainer; its text is rendered when queued.
    Digest { text: String, subject: String },
    /// Mail about maintainers' mail, to one maintainer, rendered when queued: a copy
    /// of a maintainer's answer, or why a maintainer's message was not taken.
    TeamNotice {
        text: String,
        subject: String,
        /// The message this notice answers (a refusal answers the refused mail);
        /// `None`: it threads under the report's first notification, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        in_reply_to: Option<String>,
        /// That message's References and its own Message-ID.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        references: Vec<String>,
    },
    /// The answer to a request for the gateway's key (an unencrypted mail whose
    /// subject is "key", or empty): the public key, and nothing of any report.
    KeyRequest {
        in_reply_to: Option<String>,
        references: Vec<String>,
    },
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
    /// Set when the Message-ID must be known before sending (a reply recorded as
    /// correspondence); otherwise assigned when the message is rendered.
    pub message_id: Option<String>,
}

impl NewJob {
    pub fn new(kind: JobKind, to: &str, at: DateTime<Utc>) -> NewJob {
        NewJob {
            kind,
            to: to.to_string(),
            at,
            message_id: None,
        }
    }
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
            message_id: self.message_id,
            message: None,
            sent_at: None,
            announced_key: None,
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
    /// The rendered message, kept so every retry sends the same bytes; dropped once
    /// sent.
    pub message: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    /// The gateway key (fingerprint) this message announces to the researcher after
    /// `keys rotate`, attached to it: recorded on the report once it is sent.
    #[serde(default)]
    pub announced_key: Option<String>,
}
