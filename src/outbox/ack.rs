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
use crate::store::Report;

fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn fmt_duration(d: std::time::Duration) -> String {
    humantime::format_duration(d).to_string()
}

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
    body.push_str(&format!("Received:    {}\n", fmt_time(r.received_at)));
    body.push_str(&format!(
        "Encrypted:   {}\n",
        if r.encrypted { "yes" } else { "no" }
    ));
    if may_quote {
        body.push_str(&format!("Signature:   {}\n", signature_line(report)));
    }
    body.push_str(&format!(
        "Next step:   initial assessment by {} (within {} of receipt)\n\n",
        fmt_time(r.deadlines.initial_assessment),
        fmt_duration(settings.policy.initial_assessment)
    ));
    if may_quote {
        body.push_str(&understood(settings, report));
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
    body.push_str(&format!(
        "\nPlease keep [{}] in the subject of any follow-up so it joins this report.\n",
        report.id
    ));
    if proven && r.encrypted {
        body.push_str(
            "Follow-ups join this report only when signed by the same key as the report.\n",
        );
    }
    let footer = settings.ack.footer.trim();
    if !footer.is_empty() {
        body.push_str("\n-- \n");
        body.push_str(footer);
        body.push('\n');
    }
    body
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
