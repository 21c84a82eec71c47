//! The acknowledgement of a report: what it may repeat of the report depends on
//! what the report proved of its sender.

use chrono::{DateTime, Utc};
use sequoia_openpgp::Cert;

use super::OutboxError;
use super::compose::subject_title;
use super::compose::{self, Envelope, Rendered, sanitize_header_text};
use crate::config::Settings;
use crate::crypto::{Keyring, SignatureStatus};
use crate::extract::FieldName;
use crate::policy::{DeadlineName, DeadlineState, human_duration, human_time};
use crate::store::{Report, Status};

/// Renders the acknowledgement of `report`.
///
/// It repeats what was understood of the report only when the report proved its
/// sender's key ([`Report::proven_key`]) and the answer is encrypted to that key (or
/// the report came unencrypted). Otherwise it is content-free: the report ID, when it
/// came and what happens next, and nothing from inside the report: no title, no
/// fields, no signature details, no fingerprint. Whoever sent the message may not be
/// whoever wrote it (a captured ciphertext can be sent by anyone, from any address).
pub(super) fn render_ack(
    settings: &Settings,
    keyring: &Keyring,
    report: &Report,
    recipient: Option<&Cert>,
    to: &str,
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<Rendered, OutboxError> {
    let r = &report.data;
    let proven = report.proven_key().is_some();
    let may_quote = proven && (recipient.is_some() || !r.encrypted);
    let title = subject_title(report, "your report");
    let real_subject = if may_quote {
        format!("[{}] Received: {}", report.id, title)
    } else {
        format!("[{}] Received: your report", report.id)
    };
    let outer_subject = if may_quote && !r.encrypted {
        real_subject.clone()
    } else if r.encrypted {
        format!("[{}] Received: encrypted report", report.id)
    } else {
        format!("[{}] Received: your report", report.id)
    };

    let body = ack_body(settings, report, may_quote);
    let mut refs = r.message_id.iter().cloned().collect::<Vec<_>>();
    refs.truncate(1);
    compose::seal_message(
        settings,
        keyring,
        &Envelope {
            to,
            to_name: None,
            subject: outer_subject,
            in_reply_to: r.message_id.as_deref(),
            references: &refs,
            message_id,
            date: now,
            auto_submitted: Some("auto-replied"),
        },
        &body,
        &[],
        recipient,
        &real_subject,
    )
}

/// The text of the acknowledgement; it quotes the report only when `may_quote`.
fn ack_body(settings: &Settings, report: &Report, may_quote: bool) -> String {
    let r = &report.data;
    let proven = report.proven_key().is_some();
    let mut body = String::new();
    body.push_str(&format!(
        "Thank you for your report. We have received it and stored it as {}.\n\n",
        report.id
    ));
    body.push_str(&format!("Report ID:   {}\n", report.id));
    body.push_str(&format!("Received:    {}\n", human_time(r.received_at)));
    body.push_str(&format!(
        "Encrypted:   {}\n",
        if r.encrypted { "yes" } else { "no" }
    ));
    if may_quote {
        body.push_str(&format!("Signature:   {}\n", signature_line(report)));
    }
    body.push('\n');
    body.push_str(&clocks_text(settings, report, may_quote, r.received_at));
    body.push('\n');
    if may_quote {
        body.push_str(&understood(settings, report));
        body.push_str(&embargo_proposal(report));
    } else {
        body.push_str(if r.unknown_signer.is_some() && !proven {
            // No fingerprint: whoever re-sent a captured report would learn whose key
            // signed it.
            "This reply repeats nothing of your report: it was signed with a key we do \
             not have, so we cannot tell yet that it comes from you. Maintainers will \
             read it all the same. To receive encrypted answers, send a follow-up signed \
             with that key and attach your public key (or send an Autocrypt header): \
             when that key verifies the signature on your report, our answers to this \
             report are encrypted to it.\n"
        } else if !proven {
            "This reply repeats nothing of your report: it was not signed, over all of \
             its content (and inside the encryption, when encrypted), by a key we could \
             check, so we cannot tell that it comes from you. Maintainers will read it \
             all the same. To receive an encrypted acknowledgement that lists what we \
             understood, sign your report with your key and attach your public key (or \
             send an Autocrypt header).\n"
        } else {
            "This reply repeats nothing of your report: the key that signed it cannot \
             receive encrypted mail. Add an encryption subkey to your key and attach it \
             to your next message to receive encrypted replies.\n"
        });
    }
    body.push('\n');
    body.push_str(&next_steps(settings));
    body.push('\n');
    body.push_str(&follow_up_text(report));
    body.push('\n');
    body.push_str(&credit_text(report, may_quote));
    let footer = settings.ack.footer.trim();
    if !footer.is_empty() {
        body.push_str("\n-- \n");
        body.push_str(footer);
        body.push('\n');
    }
    body
}

/// What the acknowledgement says of the embargo the report proposed, if it did.
fn embargo_proposal(report: &Report) -> String {
    let proposed = report.events.iter().find_map(|e| match e.action.as_str() {
        "embargo_proposed" => Some(format!(
            "\nYour proposed embargo: {}. The maintainers will accept it or answer you; \
             until then nothing is agreed.\n",
            e.note.as_deref().unwrap_or_default()
        )),
        "embargo_proposal_unreadable" => Some(format!(
            "\nWe could not read the embargo end you proposed: {}. Nothing was proposed; \
             send it again in a follow-up.\n",
            e.note.as_deref().unwrap_or_default()
        )),
        _ => None,
    });
    proposed.unwrap_or_default()
}

/// Every clock of the policy for `report`, as the researcher reads it: the initial
/// assessment, the fix target for its severity (or when it will be set), each with a
/// date and the zone. `may_quote` false (a content-free answer) names no severity:
/// the fix target is then the policy's table, which says nothing of the report.
/// Status mails say it again with what has been met (`now` decides met and due).
pub(crate) fn clocks_text(
    settings: &Settings,
    report: &Report,
    may_quote: bool,
    now: DateTime<Utc>,
) -> String {
    let policy = &settings.policy;
    let r = &report.data;
    let st = report.deadline_status(now);
    let state = |name: DeadlineName| match st.get(&name) {
        Some(s) if s.state == DeadlineState::Met => match s.met_at {
            Some(at) => format!(" (met {})", human_time(at)),
            None => " (met)".into(),
        },
        Some(s) if s.state == DeadlineState::Overdue => " (passed)".into(),
        _ => String::new(),
    };
    let mut out = format!(
        "Our policy's clocks, counted from receipt ({}):\n",
        human_time(r.received_at)
    );
    out.push_str(&format!(
        "  Initial assessment:  by {} (within {}){}\n",
        human_time(r.deadlines.initial_assessment),
        human_duration(policy.initial_assessment),
        state(DeadlineName::InitialAssessment)
    ));
    let table = format!(
        "critical {}, high {}, medium {}, low {}",
        human_duration(policy.fix.critical),
        human_duration(policy.fix.high),
        human_duration(policy.fix.medium),
        human_duration(policy.fix.low)
    );
    let fix = if report.status == Status::Rejected {
        "none: the report was rejected".to_string()
    } else if !may_quote {
        format!("set when we rate the severity ({table})")
    } else {
        match (r.deadlines.fix, report.severity()) {
            (Some(at), Some(sev)) => format!(
                "by {} ({sev} severity: within {}){}",
                human_time(at),
                crate::policy::fix_target(policy, Some(sev))
                    .map(human_duration)
                    .unwrap_or_default(),
                state(DeadlineName::Fix)
            ),
            _ => format!("set when we rate the severity ({table})"),
        }
    };
    out.push_str(&format!("  Fix target:          {fix}\n"));
    out
}

/// What happens after the acknowledgement.
fn next_steps(settings: &Settings) -> String {
    let told = &settings.notify.reporter_on;
    let mut out = String::from(
        "What happens next: a maintainer assesses your report by the date above and may \
         write to you with questions.",
    );
    if !told.is_empty() {
        out.push_str(&format!(
            " We write to you when its status becomes {}.",
            told.join(", ")
        ));
    }
    out.push('\n');
    out
}

/// How the researcher follows up so that the message joins the report.
pub(crate) fn follow_up_text(report: &Report) -> String {
    let mut out = format!(
        "To follow up: reply to this mail, or keep [{}] in the subject, so it joins this \
         report.",
        report.id
    );
    if report.proven_key().is_some() {
        out.push_str(
            " Sign it with the same key you signed the report with: follow-ups join this \
             report only when signed by the same key as the report.",
        );
    } else {
        // Nothing proved a key: whether we hold one says nothing the sender should
        // learn from an answer that may reach someone else.
        out.push_str(
            " Sign it with your key and attach your public key (or send an Autocrypt \
             header) if we did not have it.",
        );
    }
    out.push('\n');
    out
}

/// How the researcher chooses their credit in advisories: it is theirs to give, by a
/// reply signed with the key the report proved. No line of it starts with `Credit:`
/// (the examples are indented), so that a reply quoting it without `>` chooses
/// nothing. A credit the report names is only a suggestion until confirmed (repeated
/// when `may_quote`).
pub(crate) fn credit_text(report: &Report, may_quote: bool) -> String {
    let mut out = String::new();
    out.push_str(
        "Credits: advisories about this report credit nobody unless you choose how to be \
         credited. Reply with a line that starts with \"Credit:\", for example\n\
         \n\
         \x20 Credit: Jane Doe <@jdoe> <https://jdoe.example>\n\
         \x20 Credit: none\n\
         \n\
         (a name, then optionally a handle and a contact, a web or email address, each in \
         <>; \"none\" to stay anonymous), and optionally a line \"Credit-Type: finder\" \
         (or reporter, analyst, coordinator, remediation developer, remediation reviewer, \
         remediation verifier, tool, sponsor, other). Your address is published only if \
         you give it as the contact. A later Credit: line replaces an earlier one.",
    );
    if report.proven_key().is_some() {
        out.push_str(" The reply must be signed with the same key as your report.\n");
    } else {
        out.push_str(
            " Only a reply signed with the key that signed your report counts, and we \
             could not check a signature on this report: a Credit: line is taken once its \
             signature is verified (if you signed it, send a signed follow-up with your \
             public key attached).\n",
        );
    }
    if may_quote
        && let Some(name) = report.data.fields.credit_name.as_deref()
        && report.credit.is_none()
    {
        let name = sanitize_header_text(name, 100);
        out.push_str(&format!(
            "Your report names \"{name}\" for the credit: to be credited so, confirm it \
             in a signed reply with the line Credit: {name}\n"
        ));
    }
    out
}

/// The signature as an acknowledgement that may quote the report states it.
fn signature_line(report: &Report) -> String {
    let r = &report.data;
    match r.signature {
        SignatureStatus::Good if r.signature_covers_all => format!(
            "good, by key {}",
            r.signer_fingerprint.as_deref().unwrap_or("?")
        ),
        SignatureStatus::Good => format!(
            "good, by key {}, but it covers only part of your message",
            r.signer_fingerprint.as_deref().unwrap_or("?")
        ),
        SignatureStatus::Bad => {
            "BAD: the signature does not match (was the message altered?)".into()
        }
        SignatureStatus::UnknownKey => {
            "signed by a key we do not have; send a signed follow-up with your public key attached"
                .into()
        }
        SignatureStatus::None => "not signed".into(),
    }
}

/// What an acknowledgement that may quote the report says of it: the fields
/// understood, and what is still needed.
fn understood(settings: &Settings, report: &Report) -> String {
    let r = &report.data;
    let mut body = String::new();
    let present: Vec<FieldName> = FieldName::ALL
        .iter()
        .copied()
        .filter(|f| r.fields.get(*f).is_some())
        .collect();
    if present.is_empty() {
        body.push_str("We could not recognise any of the fields our policy asks for.\n");
    } else {
        body.push_str("What we understood:\n");
        for f in &present {
            let value = r.fields.get(*f).unwrap_or_default();
            body.push_str(&format!(
                "  {}: {}\n",
                f.label(),
                sanitize_header_text(&value, 100)
            ));
        }
    }
    if !r.attachments.is_empty() {
        body.push_str(&format!(
            "Attachments: {} file(s) kept\n",
            r.attachments.len()
        ));
    }
    body.push('\n');
    let requests: Vec<String> = r
        .hints
        .iter()
        .filter_map(|h| h.request(&settings.policy))
        .filter(|req| {
            // "Steps to reproduce" may already be listed as a missing field.
            !(req.starts_with("Steps to reproduce")
                && r.missing.contains(&FieldName::StepsToReproduce))
        })
        .collect();
    if r.missing.is_empty() && requests.is_empty() {
        body.push_str("Your report has every field our policy asks for.\n");
    } else {
        body.push_str("What we still need (please reply with these if you can):\n");
        for f in &r.missing {
            body.push_str(&format!("  - {}\n", f.label()));
        }
        for req in &requests {
            body.push_str(&format!("  - {req}\n"));
        }
    }
    body
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A report that proved a key and names a credit, as stored.
    fn report() -> Report {
        let settings = Settings::parse_toml("").unwrap();
        let now = Utc::now();
        serde_json::from_value(serde_json::json!({
            "id": "VR-2026-0001", "status": "acknowledged", "events": [],
            "received_at": now,
            "from": {"name": null, "address": "r@example.net"},
            "reply_to": null, "subject": null, "message_id": null,
            "content_sha256": "x", "form": "pgp_mime", "encrypted": true,
            "decrypted_with": null, "signature": "good", "signature_covers_all": true,
            "signer_fingerprint": "AB", "signer_key_source": null, "reporter_key": "AB",
            "proven_key": "AB", "proof_checked": true,
            "fields": {"title": "T", "credit_name": "Jane Doe"},
            "missing": [], "attachments": [], "body": "", "source_file": null,
            "deadlines": crate::policy::Deadlines::compute(&settings.policy, now, None),
        }))
        .unwrap()
    }

    #[test]
    fn an_acknowledgement_quoted_back_without_quote_marks_chooses_no_credit() {
        let settings = Settings::parse_toml("").unwrap();
        let r = report();
        for may_quote in [true, false] {
            let body = ack_body(&settings, &r, may_quote);
            assert!(body.contains("Credit: none"), "{body}");
            assert_eq!(
                body.contains("Your report names \"Jane Doe\""),
                may_quote,
                "{body}"
            );
            assert_eq!(crate::store::credit_from_reply(&body), None, "{body}");
        }
    }
}
