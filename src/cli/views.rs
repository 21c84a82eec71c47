//! What `reports list` and `reports show` print as JSON (stable for scripts): the
//! views of a stored report.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::crypto::SignatureStatus;
use crate::extract::{Cvss, Fields, Severity};
use crate::policy::DeadlineState;
use crate::store::{AttachmentMeta, Direction, Event, RejectReason, Report};

/// One row of `reports list --json`: the fields scripts rely on.
#[derive(Serialize)]
pub(super) struct ReportSummary<'a> {
    pub(super) id: &'a str,
    pub(super) status: &'static str,
    pub(super) severity: &'static str,
    pub(super) received_at: String,
    pub(super) from: &'a str,
    pub(super) title: Option<&'a str>,
    pub(super) assignee: Option<&'a str>,
    pub(super) encrypted: bool,
    pub(super) signature: SignatureStatus,
    pub(super) signature_covers_all: bool,
    pub(super) signer_fingerprint: Option<&'a str>,
    pub(super) signer_matches_from: bool,
    /// The key the report proved (answers are encrypted to it); none: answers say
    /// nothing of the report.
    pub(super) proven_key: Option<&'a str>,
    /// The report this one claims to continue without being signed by its key.
    pub(super) unverified_followup_of: Option<&'a str>,
    pub(super) cvss_vector: Option<&'a str>,
    pub(super) cvss_score: Option<f64>,
    pub(super) affected_versions: Option<&'a str>,
    pub(super) message_id: Option<&'a str>,
    pub(super) missing_fields: Vec<&'static str>,
    pub(super) hints: Vec<String>,
    pub(super) attachments: usize,
    pub(super) correspondence: usize,
    /// Deadlines passed unmet.
    pub(super) overdue: Vec<&'static str>,
    /// The nearest deadline still ahead.
    pub(super) next_deadline: Option<NextDeadline>,
}

#[derive(Serialize)]
pub(super) struct NextDeadline {
    pub(super) name: &'static str,
    pub(super) at: String,
}

pub(super) fn severity_name(r: &Report) -> &'static str {
    r.severity().map_or("unrated", Severity::as_str)
}

impl<'a> ReportSummary<'a> {
    pub(super) fn of(r: &'a Report, now: DateTime<Utc>) -> Self {
        let d = &r.data;
        let deadlines = r.deadline_status(now);
        ReportSummary {
            id: r.id.as_str(),
            status: r.status.as_str(),
            severity: severity_name(r),
            received_at: d.received_at.to_rfc3339(),
            from: &d.from.address,
            title: r.detail(crate::store::Detail::Title),
            assignee: r.triage.assignee.as_deref(),
            encrypted: d.encrypted,
            signature: d.signature,
            signature_covers_all: d.signature_covers_all,
            signer_fingerprint: d.signer_fingerprint.as_deref(),
            signer_matches_from: d.signer_matches_from,
            proven_key: r.proven_key(),
            unverified_followup_of: d.unverified_followup_of.as_ref().map(|id| id.as_str()),
            cvss_vector: r.cvss().map(|c| c.vector.as_str()),
            cvss_score: r.cvss().map(|c| c.score),
            affected_versions: r.detail(crate::store::Detail::AffectedVersions),
            message_id: d.message_id.as_deref(),
            missing_fields: d.missing.iter().map(|f| f.as_str()).collect(),
            hints: d.hints.iter().map(|h| h.to_string()).collect(),
            attachments: d.attachments.len(),
            correspondence: r.correspondence.len(),
            overdue: deadlines
                .iter()
                .filter(|(_, s)| s.state == DeadlineState::Overdue)
                .map(|(n, _)| n.as_str())
                .collect(),
            next_deadline: deadlines
                .iter()
                .filter(|(_, s)| s.state == DeadlineState::Due)
                .min_by_key(|(_, s)| s.at)
                .map(|(n, s)| NextDeadline {
                    name: n.as_str(),
                    at: s.at.to_rfc3339(),
                }),
        }
    }
}

/// `reports show --json`: stable for scripts.
#[derive(Serialize)]
pub(super) struct ReportView<'a> {
    id: &'a str,
    status: &'static str,
    reject_reason: Option<&'a RejectReason>,
    severity: &'static str,
    cvss: Option<&'a Cvss>,
    assignee: Option<&'a str>,
    received_at: String,
    from: &'a crate::intake::Mailbox,
    reply_to: Option<&'a crate::intake::Mailbox>,
    subject: Option<&'a str>,
    message_id: Option<&'a str>,
    /// How the report came: plain, inline or PGP/MIME.
    form: crate::crypto::open::Form,
    encrypted: bool,
    decrypted_with: Option<&'a str>,
    signature: SignatureStatus,
    signature_covers_all: bool,
    signer_fingerprint: Option<&'a str>,
    signer_key_source: Option<crate::crypto::KeySource>,
    signer_matches_from: bool,
    reporter_key: Option<&'a str>,
    /// The key this report proved (answers are encrypted to it, follow-ups must be
    /// signed by it); none: answers say nothing of the report.
    proven_key: Option<&'a str>,
    /// The report this one claims to continue without being signed by its key.
    unverified_followup_of: Option<&'a str>,
    /// Every key the sender's address has proved, oldest first: more than one means
    /// the address changed keys, or someone else made a key for it.
    address_keys: Vec<crate::store::AddressKey>,
    /// Where the raw message was kept.
    source_file: Option<&'a str>,
    suppressed_ack: bool,
    fields: &'a Fields,
    /// What maintainers corrected or completed (title, affected_versions,
    /// affected_component, vulnerability_type, cwe, cve, fixed_in) and the advisory
    /// details (summary, ecosystem, package, purl, vendor, product, references,
    /// remediation, published, affected); wins over `fields`.
    details: &'a BTreeMap<crate::store::Detail, String>,
    /// How the researcher chose to be credited in advisories (a signed reply); null:
    /// they did not choose, and nobody is credited.
    credit: Option<&'a crate::store::CreditChoice>,
    missing_fields: Vec<&'static str>,
    hints: Vec<String>,
    hint_details: Vec<String>,
    deadlines: BTreeMap<&'static str, DeadlineView>,
    attachments: &'a [AttachmentMeta],
    body: &'a str,
    correspondence: Vec<CorrespondenceView<'a>>,
    /// Every message about the report in time order, internal ones included.
    conversation: Vec<crate::store::Turn<'a>>,
    events: Vec<EventView<'a>>,
    /// The embargo, if one was ever proposed or set.
    #[serde(skip_serializing_if = "Option::is_none")]
    embargo: Option<EmbargoView<'a>>,
    /// The team asked the researcher a question and waits: the assessment and fix
    /// clocks are paused.
    waiting_on_researcher: bool,
    /// The dated steps of the report's life and its key dates.
    timeline: crate::store::Timeline,
}

/// An embargo in `reports show --json`: the end in UTC, the zone it was given in,
/// and both as people read them.
#[derive(Serialize)]
struct EmbargoView<'a> {
    /// proposed, active, ended (an active one past its end) or exited.
    state: &'static str,
    end: String,
    zone: &'a str,
    end_shown: String,
    since: Option<String>,
    /// The end the researcher proposed instead, while one is active.
    proposed_end: Option<String>,
    exited_at: Option<String>,
    exit_reason: Option<&'static str>,
}

impl<'a> EmbargoView<'a> {
    fn of(e: &'a crate::store::Embargo, now: DateTime<Utc>) -> Self {
        EmbargoView {
            state: e.phase(now),
            end: e.end.at.to_rfc3339(),
            zone: &e.end.zone,
            end_shown: e.end.display(),
            since: e.since.map(|t| t.to_rfc3339()),
            proposed_end: e.revision.as_ref().map(|r| r.at.to_rfc3339()),
            exited_at: e.exited.map(|(t, _)| t.to_rfc3339()),
            exit_reason: e.exited.map(|(_, r)| r.as_str()),
        }
    }
}

#[derive(Serialize)]
struct DeadlineView {
    at: String,
    state: &'static str,
    met_at: Option<String>,
}

#[derive(Serialize)]
struct CorrespondenceView<'a> {
    direction: Direction,
    time: String,
    from: &'a str,
    to: &'a str,
    message_id: Option<&'a str>,
    subject: Option<&'a str>,
    encrypted: bool,
    signature: SignatureStatus,
    actor: Option<&'a str>,
    attachments: &'a [AttachmentMeta],
    body: &'a str,
}

#[derive(Serialize)]
struct EventView<'a> {
    time: String,
    actor: &'a str,
    action: &'a str,
    note: Option<&'a str>,
}

impl<'a> ReportView<'a> {
    pub(super) fn of(
        r: &'a Report,
        address_keys: Vec<crate::store::AddressKey>,
        policy: &crate::config::Policy,
        now: DateTime<Utc>,
    ) -> Self {
        let d = &r.data;
        ReportView {
            id: r.id.as_str(),
            status: r.status.as_str(),
            reject_reason: r.triage.reject_reason.as_ref(),
            severity: severity_name(r),
            cvss: r.cvss(),
            assignee: r.triage.assignee.as_deref(),
            received_at: d.received_at.to_rfc3339(),
            from: &d.from,
            reply_to: d.reply_to.as_ref(),
            subject: d.subject.as_deref(),
            message_id: d.message_id.as_deref(),
            form: d.form,
            encrypted: d.encrypted,
            decrypted_with: d.decrypted_with.as_deref(),
            signature: d.signature,
            signature_covers_all: d.signature_covers_all,
            signer_fingerprint: d.signer_fingerprint.as_deref(),
            signer_key_source: d.signer_key_source,
            signer_matches_from: d.signer_matches_from,
            reporter_key: r.answer_key(),
            proven_key: r.proven_key(),
            unverified_followup_of: d.unverified_followup_of.as_ref().map(|id| id.as_str()),
            address_keys,
            source_file: d.source_file.as_deref(),
            suppressed_ack: d.suppressed_ack,
            fields: &d.fields,
            details: &r.triage.details,
            credit: r.credit.as_ref(),
            missing_fields: d.missing.iter().map(|f| f.as_str()).collect(),
            hints: d.hints.iter().map(|h| h.to_string()).collect(),
            hint_details: d.hints.iter().map(|h| h.explain(policy)).collect(),
            deadlines: r
                .deadline_status(now)
                .into_iter()
                .map(|(n, s)| {
                    (
                        n.as_str(),
                        DeadlineView {
                            at: s.at.to_rfc3339(),
                            state: s.state.as_str(),
                            met_at: s.met_at.map(|t| t.to_rfc3339()),
                        },
                    )
                })
                .collect(),
            attachments: &d.attachments,
            body: &d.body,
            correspondence: r
                .correspondence
                .iter()
                .map(CorrespondenceView::of)
                .collect(),
            conversation: r.conversation(),
            events: r.events.iter().map(EventView::of).collect(),
            embargo: r.embargo.as_ref().map(|e| EmbargoView::of(e, now)),
            waiting_on_researcher: r.waiting_on_researcher(),
            timeline: r.timeline(),
        }
    }
}

impl<'a> CorrespondenceView<'a> {
    fn of(c: &'a crate::store::Correspondence) -> Self {
        CorrespondenceView {
            direction: c.direction,
            time: c.at.to_rfc3339(),
            from: &c.from,
            to: &c.to,
            message_id: c.message_id.as_deref(),
            subject: c.subject.as_deref(),
            encrypted: c.encrypted,
            signature: c.signature,
            actor: c.actor.as_deref(),
            attachments: &c.attachments,
            body: &c.body,
        }
    }
}

impl<'a> EventView<'a> {
    fn of(e: &'a Event) -> Self {
        EventView {
            time: e.at.to_rfc3339(),
            actor: &e.actor,
            action: &e.action,
            note: e.note.as_deref(),
        }
    }
}
