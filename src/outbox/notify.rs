//! What maintainers receive: the full report when it arrives, a reporter's follow-up,
//! an escalation when a deadline passes, and the digest. Always signed by the gateway
//! and encrypted to the one maintainer it is addressed to; the outer subject carries
//! the report ID (and "CRITICAL" when it is), never the report's title.

use chrono::{DateTime, Utc};

use super::compose::{self, Envelope, Extra, Rendered};
use super::{Context, OutboxError};
use crate::config::{Policy, Settings};
use crate::crypto::SignatureStatus;
use crate::extract::{FieldName, Severity};
use crate::policy::human_time;
use crate::store::{Correspondence, DeadlineName, Direction, Job, JobKind, Report};

/// The report as text, for maintainers: what `reports show` prints and what the
/// new-report notification says.
pub(crate) fn report_text(report: &Report, policy: &Policy, now: DateTime<Utc>) -> String {
    let mut text = summary_text(report);
    deadlines_text(report, policy, now, &mut text);
    contents_text(report, &mut text);
    text
}

/// The report's facts, one labelled line each.
fn summary_text(report: &Report) -> String {
    let d = &report.data;
    let mut out = String::new();
    let mut line = |label: &str, value: &str| {
        out.push_str(&format!("{label:<14}{value}\n"));
    };
    line(
        "Report:",
        &format!("{}  ({})", report.id, report.status.as_str()),
    );
    if let Some(reason) = &report.triage.reject_reason {
        line("Rejected:", &reason.to_string());
    }
    line("Received:", &human_time(d.received_at));
    line(
        "From:",
        &match &d.from.name {
            Some(name) => format!("{name} <{}>", d.from.address),
            None => d.from.address.clone(),
        },
    );
    if let Some(rt) = &d.reply_to {
        line("Reply-To:", &rt.address);
    }
    line("Message-ID:", d.message_id.as_deref().unwrap_or("-"));
    line("Encrypted:", if d.encrypted { "yes" } else { "no" });
    line("Signature:", &signature_text(report));
    line(
        "Proven key:",
        &match (report.proven_key(), report.answer_key()) {
            (Some(k), Some(_)) => format!("{k} (answers are encrypted to it)"),
            (Some(k), None) => format!("{k} (cannot receive encrypted mail: answers say nothing of the report)"),
            (None, _) => "none: not signed over all of it inside the encryption; answers say nothing of the report".into(),
        },
    );
    if let Some(of) = &d.unverified_followup_of {
        line(
            "UNVERIFIED:",
            &format!(
                "claims to continue {of} from its address but is not signed by the key {of} proved"
            ),
        );
    }
    line(
        "Severity:",
        &match (report.severity(), report.cvss()) {
            (Some(s), Some(c)) => format!("{s} (CVSS {} {:.1})", c.vector, c.score),
            (Some(s), None) => s.to_string(),
            (None, _) => "unrated".into(),
        },
    );
    line(
        "Assignee:",
        report.triage.assignee.as_deref().unwrap_or("(none)"),
    );
    out
}

/// The report's deadlines and the gateway's hints.
fn deadlines_text(report: &Report, policy: &Policy, now: DateTime<Utc>, text: &mut String) {
    let d = &report.data;
    text.push_str("\nDeadlines:\n");
    for (name, st) in report.deadline_status(now) {
        text.push_str(&format!(
            "  {:<20} {}  {}{}\n",
            name.as_str(),
            human_time(st.at),
            st.state.as_str(),
            st.met_at
                .map(|m| format!(" at {}", human_time(m)))
                .unwrap_or_default()
        ));
    }
    if report.data.deadlines.fix.is_none() {
        text.push_str("  fix                  none until the report has a severity\n");
    }
    if let Some((since, None)) = report.pauses().last() {
        text.push_str(&format!(
            "  Waiting on the researcher since {}: the assessment and fix clocks are paused.\n",
            human_time(*since)
        ));
    }
    if let Some(e) = &report.embargo {
        text.push_str(&format!("\nEmbargo: {}\n", e.describe(now)));
    }
    if !d.hints.is_empty() {
        text.push_str("\nHints (the gateway flags, maintainers decide):\n");
        for h in &d.hints {
            text.push_str(&format!("  - {h}: {}\n", h.explain(policy)));
        }
    }
}

/// What the report says, what came with it, and what happened to it since.
fn contents_text(report: &Report, text: &mut String) {
    let d = &report.data;
    text.push('\n');
    for f in FieldName::ALL {
        if let Some(v) = d.fields.get(f) {
            text.push_str(&format!("{}:\n  {}\n", f.label(), v.replace('\n', "\n  ")));
        }
    }
    if !d.missing.is_empty() {
        let names: Vec<_> = d.missing.iter().map(|f| f.label()).collect();
        text.push_str(&format!("\nMissing: {}\n", names.join(", ")));
    }
    for a in &d.attachments {
        text.push_str(&format!(
            "Attachment:   {} ({}, {} bytes, sha256 {})\n",
            a.name.as_deref().unwrap_or("(unnamed)"),
            a.content_type,
            a.size,
            a.sha256
        ));
    }
    text.push_str("\nReport text:\n");
    for l in d.body.lines() {
        text.push_str(&format!("  | {l}\n"));
    }
    let conversation = report.conversation();
    if !conversation.is_empty() {
        text.push_str("\nConversation (oldest first):\n");
        for t in &conversation {
            text.push_str(&format!(
                "  --- {}  {}, {}{}\n",
                human_time(t.at),
                t.kind.as_str(),
                t.who,
                if t.encrypted { "" } else { ", not encrypted" }
            ));
            for l in t.text.lines() {
                text.push_str(&format!("  | {l}\n"));
            }
        }
    }
    text.push_str("\nEvents:\n");
    for e in &report.events {
        text.push_str(&format!(
            "  {}  {:<26} {}{}\n",
            human_time(e.at),
            e.action,
            e.actor,
            e.note
                .as_deref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default()
        ));
    }
}

fn signature_text(report: &Report) -> String {
    let d = &report.data;
    if d.signature == SignatureStatus::UnknownKey
        && let Some(issuer) = &d.unknown_signer
    {
        return format!(
            "signed by {issuer}, which we did not have (a message that brings this key proves the report if the signature verifies)"
        );
    }
    format!(
        "{}{}{}{}",
        d.signature.as_str(),
        d.signer_fingerprint
            .as_deref()
            .map(|f| format!(" ({f})"))
            .unwrap_or_default(),
        if d.signature == SignatureStatus::Good && !d.signature_covers_all {
            "; covers only part of the message"
        } else {
            ""
        },
        if d.signer_fingerprint.is_some() && !d.signer_matches_from {
            "; the key has no user ID for the sender's address"
        } else {
            ""
        }
    )
}

/// One message of the correspondence, quoted.
pub(crate) fn correspondence_text(c: &Correspondence) -> String {
    let mut text = format!(
        "  --- {} {}  {} -> {}  {}{}\n",
        human_time(c.at),
        match c.direction {
            Direction::In => "from the reporter",
            Direction::Out => "to the reporter",
        },
        c.from,
        c.to,
        if c.encrypted {
            "encrypted"
        } else {
            "not encrypted"
        },
        match c.direction {
            Direction::In => format!(", signature {}", c.signature.as_str()),
            Direction::Out => match c.actor.as_deref() {
                // Team mail is `mail:<address>` (see `pipeline::team_mail`).
                Some(a) => match a.strip_prefix("mail:") {
                    Some(who) => format!(", relayed from signed mail by {who}"),
                    None => format!(", by {a}"),
                },
                None => String::new(),
            },
        }
    );
    if let Some(m) = &c.message_id {
        text.push_str(&format!("      Message-ID: {m}\n"));
    }
    for l in c.body.lines() {
        text.push_str(&format!("  | {l}\n"));
    }
    text
}

/// The maintainer a job is for; one removed from the configuration since is a
/// permanent failure.
fn addressee<'a>(
    ctx: &'a Context<'_>,
    job: &Job,
) -> Result<&'a crate::crypto::Member, OutboxError> {
    ctx.team.member(&job.to).ok_or_else(|| {
        OutboxError::BadRecipient(format!(
            "{} is no longer a maintainer in the configuration",
            job.to
        ))
    })
}

fn critical(report: &Report) -> bool {
    report.severity() == Some(Severity::Critical)
}

/// A notification about one report, to the maintainer the job is addressed to.
pub(crate) fn render(
    ctx: &Context<'_>,
    report: &Report,
    job: &Job,
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<Rendered, OutboxError> {
    let member = addressee(ctx, job)?;
    let crit = if critical(report) { "CRITICAL " } else { "" };
    let title = super::subject_title(report, "(no title)");
    let mut files = Vec::new();
    let (outer, inner, body) = match &job.kind {
        JobKind::NewReport => {
            for a in &report.data.attachments {
                if let Some(data) = ctx.store.attachment(&a.sha256)? {
                    files.push((a, data));
                }
            }
            (
                format!("[{}] {crit}New report", report.id),
                format!("[{}] {crit}New report: {title}", report.id),
                new_report_text(ctx.settings, report, now),
            )
        }
        JobKind::FollowUp { message_id: mid } => {
            followup_texts(ctx.settings, report, mid, crit, &title)?
        }
        JobKind::Escalation { deadline } => {
            escalation_texts(ctx.settings, report, *deadline, crit, &title, now)
        }
        other => {
            return Err(OutboxError::Compose(format!(
                "{} is not a notification",
                super::kind_name(other)
            )));
        }
    };
    let extras: Vec<Extra<'_>> = files
        .iter()
        .map(|(meta, data)| Extra::File {
            name: meta.name.as_deref().unwrap_or("attachment"),
            content_type: &meta.content_type,
            data,
        })
        .collect();
    // Later mail about the report answers its first notification.
    let refs: Vec<String> = match job.kind {
        JobKind::NewReport => Vec::new(),
        _ => vec![super::thread_root(
            ctx.settings,
            report.id.as_str(),
            &member.address,
        )],
    };
    compose::seal_message(
        ctx.settings,
        ctx.keyring,
        &Envelope {
            to: &member.address,
            to_name: Some(&member.name),
            subject: outer,
            in_reply_to: refs.first().map(String::as_str),
            references: &refs,
            message_id,
            date: now,
            auto_submitted: Some("auto-generated"),
        },
        &body,
        &extras,
        Some(&member.cert),
        &inner,
    )
}

/// What the gateway's mail to maintainers about `report` says, rendered now: the
/// new-report notification, each follow-up notice and each escalation. A
/// maintainer's answer that quotes any line of them without `>` would hand the
/// researcher what only the team may read (see `pipeline::team_mail`).
pub(crate) fn team_texts(settings: &Settings, report: &Report, now: DateTime<Utc>) -> Vec<String> {
    let title = super::subject_title(report, "(no title)");
    let mut out = vec![new_report_text(settings, report, now)];
    for c in &report.correspondence {
        if let Some(mid) = c.message_id.as_deref()
            && c.direction == Direction::In
            && let Ok((_, _, body)) = followup_texts(settings, report, mid, "", &title)
        {
            out.push(body);
        }
    }
    for deadline in DeadlineName::ALL {
        out.push(escalation_texts(settings, report, deadline, "", &title, now).2);
    }
    out
}

/// The body of the new-report notification.
fn new_report_text(settings: &Settings, report: &Report, now: DateTime<Utc>) -> String {
    format!(
        "A new vulnerability report has been stored as {}.\n\n{}\n{}",
        report.id,
        report_text(report, &settings.policy, now),
        workflow_footer(settings, report, true)
    )
}

/// The short footer of mail to maintainers about a report: how to answer by mail,
/// the keywords, where a reply's text goes (README "Working by email": a reply to
/// mail that brought the researcher's words is relayed, any other stays in the
/// team), and how to get the gateway's key to encrypt to.
pub(crate) fn workflow_footer(settings: &Settings, report: &Report, relays: bool) -> String {
    let keywords: Vec<&str> = [
        "X-STATUS:",
        "X-REASON:",
        "X-SEVERITY:",
        "X-CVSS:",
        "X-ASSIGNEE:",
        "X-NOTE:",
        "X-NOTIFY: no",
        "X-INTERNAL: yes",
        "X-RELAY: yes|no",
    ]
    .to_vec();
    let where_to = if relays {
        "Your reply's text after the command lines goes to the researcher (signed by the \
         gateway, without your address); X-INTERNAL: yes keeps it in the team."
    } else {
        "Replies to this mail stay in the team; X-RELAY: yes sends their text to the \
         researcher."
    };
    format!(
        "-- \n\
         Answer by mail: reply signed and encrypted to the gateway's key ({gateway}; the \
         key that signed this mail, `disclosured keys export` prints it). Command lines \
         at the top of the reply: {keywords}; X-NOTIFY: no changes the state without a \
         status mail to the researcher.\n\
         {where_to}\n\
         disclosured reports show {id}\n",
        gateway = settings.gateway.address,
        keywords = keywords.join(", "),
        id = report.id,
    )
}

/// Subjects (outer, inner) and body of a reporter's follow-up notification.
fn followup_texts(
    settings: &Settings,
    report: &Report,
    mid: &str,
    crit: &str,
    title: &str,
) -> Result<(String, String, String), OutboxError> {
    let entry = report
        .correspondence
        .iter()
        .find(|c| c.message_id.as_deref() == Some(mid))
        .ok_or_else(|| OutboxError::Compose(format!("follow-up {mid} is not recorded")))?;
    // The details this follow-up filled (see `Report::fill_missing`).
    let filled: String = report
        .events
        .iter()
        .filter(|e| e.action == "fields_filled")
        .filter_map(|e| e.note.as_deref())
        .filter(|n| n.ends_with(&format!("(follow-up Message-ID {mid})")))
        .map(|n| format!("It filled details the report lacked: {n}\n\n"))
        .collect();
    Ok((
        format!("[{}] {crit}Reporter follow-up", report.id),
        format!("[{}] {crit}Reporter follow-up: {title}", report.id),
        format!(
            "The reporter of {} ({}, status {}) wrote again:\n\n{}\n{filled}{}\
             Or answer with: disclosured reports reply {} --file MESSAGE\n",
            report.id,
            title,
            report.status.as_str(),
            correspondence_text(entry),
            workflow_footer(settings, report, true),
            report.id
        ),
    ))
}

/// Subjects (outer, inner) and body of a missed deadline's escalation.
fn escalation_texts(
    settings: &Settings,
    report: &Report,
    deadline: DeadlineName,
    crit: &str,
    title: &str,
    now: DateTime<Utc>,
) -> (String, String, String) {
    let st = report.deadline_status(now);
    let due = st
        .get(&deadline)
        .map(|s| human_time(s.at))
        .unwrap_or_else(|| "-".into());
    (
        format!("[{}] {crit}OVERDUE: {}", report.id, deadline.as_str()),
        format!(
            "[{}] {crit}OVERDUE: {} for {title}",
            report.id,
            deadline.as_str()
        ),
        format!(
            "The {} deadline of {} passed at {due} without the {}.\n\n\
                 Report:    {} ({title})\nStatus:    {}\nSeverity:  {}\nAssignee:  {}\nReceived:  {}\n\n\
                 This is the only mail about this deadline; it also stays in the digest's \
                 overdue list until met.\n{}",
            deadline.as_str(),
            report.id,
            deadline.milestone(),
            report.id,
            report.status.as_str(),
            report.severity().map_or("unrated", Severity::as_str),
            report.triage.assignee.as_deref().unwrap_or("(none)"),
            human_time(report.data.received_at),
            workflow_footer(settings, report, false),
        ),
    )
}

/// The digest or a team notice (text rendered when it was queued), to one
/// maintainer; `answers`: the message it answers and that message's thread.
pub(crate) fn render_digest(
    ctx: &Context<'_>,
    job: &Job,
    text: &str,
    subject: &str,
    answers: Option<(&str, &[String])>,
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<Rendered, OutboxError> {
    let member = addressee(ctx, job)?;
    // A refusal answers the refused mail; a team notice about a report (a copy of a
    // maintainer's answer) threads under the report's first notification; a digest
    // is about no one report.
    let (parent, refs): (Option<String>, Vec<String>) = match (answers, &job.outcome) {
        (Some((parent, refs)), _) => (Some(parent.to_string()), refs.to_vec()),
        (None, Some(crate::store::OutcomeRef::Report(id))) => {
            let root = super::thread_root(ctx.settings, id.as_str(), &member.address);
            (Some(root.clone()), vec![root])
        }
        _ => (None, Vec::new()),
    };
    compose::seal_message(
        ctx.settings,
        ctx.keyring,
        &Envelope {
            to: &member.address,
            to_name: Some(&member.name),
            subject: subject.to_string(),
            in_reply_to: parent.as_deref(),
            references: &refs,
            message_id,
            date: now,
            auto_submitted: Some("auto-generated"),
        },
        text,
        &[],
        Some(&member.cert),
        subject,
    )
}
