//! Rendering a queued job into the message it sends: what each kind of job says, to
//! whom, encrypted to which key. Acknowledgements are in `ack`, maintainers' mail in
//! `notify`.

use chrono::{DateTime, Utc};
use sequoia_openpgp::Cert;

use super::ack::render_ack;
use super::compose::{self, Envelope, Extra, Rendered, subject_title};
use super::{Context, OutboxError, gateway_domain, kind_name, notify};
use crate::config::Settings;
use crate::crypto::Keyring;
use crate::store::{Direction, Job, JobKind, OutcomeRef, Report, Store, StoreError};

pub(super) fn render_if_needed(
    ctx: &Context<'_>,
    job: &mut Job,
    now: DateTime<Utc>,
) -> Result<(), OutboxError> {
    if job.message.is_some() {
        return Ok(());
    }
    let root = match (&job.kind, &job.outcome) {
        (JobKind::NewReport, Some(OutcomeRef::Report(id))) => {
            Some(super::thread_root(ctx.settings, id.as_str(), &job.to))
        }
        _ => None,
    };
    let message_id = job.message_id.clone().or(root).unwrap_or_else(|| {
        format!(
            "disclosured.{}.{}@{}",
            job.id,
            job.created_at.timestamp(),
            gateway_domain(ctx.settings)
        )
    });
    if job.kind == JobKind::Reply
        && let Some(OutcomeRef::Report(id)) = &job.outcome
        && let Some(report) = ctx.store.report(id)?
    {
        job.announced_key = key_to_announce(ctx.keyring, &report).map(|(new, _)| new);
    }
    let Rendered { bytes, message_id } = render(ctx, job, &message_id, now)?;
    // What we compose is 7-bit (quoted-printable, base64 and armor), so it is text.
    job.message = Some(String::from_utf8_lossy(&bytes).into_owned());
    job.message_id = Some(message_id);
    Ok(())
}

/// The message `job` sends, under `message_id`.
fn render(
    ctx: &Context<'_>,
    job: &Job,
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<Rendered, OutboxError> {
    let report_of = |job: &Job| -> Result<Report, OutboxError> {
        match &job.outcome {
            Some(OutcomeRef::Report(id)) => ctx
                .store
                .report(id)?
                .ok_or_else(|| OutboxError::Compose(format!("report {id} is not in the store"))),
            _ => Err(OutboxError::Compose(format!(
                "{} without a report",
                kind_name(&job.kind)
            ))),
        }
    };
    match &job.kind {
        JobKind::Reply => render_reply(ctx, &report_of(job)?, job, message_id, now),
        JobKind::NewReport | JobKind::FollowUp { .. } | JobKind::Escalation { .. } => {
            notify::render(ctx, &report_of(job)?, job, message_id, now)
        }
        JobKind::Digest { text, subject } => {
            notify::render_digest(ctx, job, text, subject, None, message_id, now)
        }
        JobKind::TeamNotice {
            text,
            subject,
            in_reply_to,
            references,
        } => {
            let answers = in_reply_to.as_deref().map(|p| (p, references.as_slice()));
            notify::render_digest(ctx, job, text, subject, answers, message_id, now)
        }
        JobKind::Ack => {
            let report = report_of(job)?;
            let cert = answer_cert(ctx.store, ctx.keyring, &report)?;
            render_ack(
                ctx.settings,
                ctx.keyring,
                &report,
                cert.as_ref(),
                &job.to,
                message_id,
                now,
            )
        }
        JobKind::KeyRequest {
            in_reply_to,
            references,
        } => {
            let body = key_answer_body(ctx.settings, ctx.keyring)?;
            let refs = thread_refs(in_reply_to.as_deref(), references);
            compose::seal_message(
                ctx.settings,
                ctx.keyring,
                &Envelope {
                    to: &job.to,
                    to_name: None,
                    subject: format!("OpenPGP key of {}", ctx.settings.gateway.address),
                    in_reply_to: in_reply_to.as_deref(),
                    references: &refs,
                    message_id,
                    date: now,
                    auto_submitted: Some("auto-replied"),
                },
                &body,
                &[Extra::GatewayKey],
                None,
                "",
            )
        }
        JobKind::Unreadable {
            reason,
            in_reply_to,
            references,
            ..
        } => {
            let body = unreadable_body(ctx.settings, reason);
            // Nothing of the unreadable message is echoed back, not even its
            // subject: the notice may go to a forged sender.
            let subject = "Could not read your message".to_string();
            let refs = thread_refs(in_reply_to.as_deref(), references);
            compose::seal_message(
                ctx.settings,
                ctx.keyring,
                &Envelope {
                    to: &job.to,
                    to_name: None,
                    subject,
                    in_reply_to: in_reply_to.as_deref(),
                    references: &refs,
                    message_id,
                    date: now,
                    auto_submitted: Some("auto-replied"),
                },
                &body,
                &[Extra::GatewayKey],
                None,
                "",
            )
        }
    }
}

/// The certificate an answer to `report` is encrypted to: the one the report proved
/// ([`Report::answer_key`]), found by its primary fingerprint among the pre-loaded
/// keys, then the learnt ones (and the keys earlier versions kept for one answer).
/// Never chosen by address or by key ID, and never a revoked or expired key (see
/// [`answer_key_refusal`]). `Ok(None)`: answer without encryption, saying nothing of
/// the report.
pub(crate) fn answer_cert(
    store: &Store,
    keyring: &Keyring,
    report: &Report,
) -> Result<Option<Cert>, StoreError> {
    Ok(held_answer_cert(store, keyring, report)?
        .filter(|c| crate::crypto::certs::answer_refusal(c).is_none()))
}

/// Why the key `report` proved cannot be answered to any more (revoked, expired),
/// for the maintainers; `None` when it can, or when the report proved none.
pub(crate) fn answer_key_refusal(
    store: &Store,
    keyring: &Keyring,
    report: &Report,
) -> Result<Option<String>, StoreError> {
    Ok(held_answer_cert(store, keyring, report)?
        .and_then(|c| crate::crypto::certs::answer_refusal(&c)))
}

/// Every copy the gateway holds of the certificate `report` proved, merged: a
/// revocation kept with the learnt copy applies to a pre-loaded one too (this reads
/// the store: never
/// inside a store transaction, which `store::guard` enforces; the status notice looks
/// the key up before its transaction).
fn held_answer_cert(
    store: &Store,
    keyring: &Keyring,
    report: &Report,
) -> Result<Option<Cert>, StoreError> {
    let Some(fingerprint) = report.answer_key() else {
        return Ok(None);
    };
    let is_it = |c: &Cert| c.fingerprint().to_hex() == fingerprint;
    let mut copies: Vec<Cert> = keyring
        .reporters()
        .iter()
        .filter(|c| is_it(c))
        .cloned()
        .collect();
    let bytes = match store.learnt_cert(fingerprint)? {
        Some(b) => Some(b),
        None => store.offered_key(fingerprint)?,
    };
    if let Some(bytes) = bytes {
        copies.extend(
            crate::crypto::parse_certs(&bytes)
                .0
                .into_iter()
                .filter(|c| is_it(c)),
        );
    }
    let mut copies = copies.into_iter();
    let Some(first) = copies.next() else {
        return Ok(None);
    };
    Ok(Some(copies.fold(first, |held, other| {
        held.clone().merge_public(other).unwrap_or(held)
    })))
}

/// A maintainer's message to the reporter (its text is the outgoing correspondence
/// entry with this Message-ID), threaded into the report's conversation.
fn render_reply(
    ctx: &Context<'_>,
    report: &Report,
    job: &Job,
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<Rendered, OutboxError> {
    let entry = report
        .correspondence
        .iter()
        .find(|c| c.direction == Direction::Out && c.message_id.as_deref() == Some(message_id))
        .ok_or_else(|| OutboxError::Compose(format!("reply {message_id} is not recorded")))?;
    let cert = answer_cert(ctx.store, ctx.keyring, report)?;
    // Whether to encrypt was decided when the reply was queued; a key that has gone
    // since must not turn it into plain text.
    if cert.is_none() && entry.encrypted {
        return Err(OutboxError::Compose(format!(
            "the reporter's key for {} is no longer available; the reply cannot be encrypted",
            report.id
        )));
    }
    let title = subject_title(report, "your report");
    let real_subject = entry
        .subject
        .clone()
        .unwrap_or_else(|| format!("Re: [{}] {}", report.id, title));
    let status_mail = entry
        .subject
        .as_deref()
        .is_some_and(|s| s.starts_with(&format!("[{}] Status: ", report.id)));
    let outer_subject = if cert.is_some() && status_mail {
        format!("[{}] Status update", report.id)
    } else if cert.is_some() {
        format!("[{}] Re: your report", report.id)
    } else {
        real_subject.clone()
    };
    // Answer the latest message we have from the reporter, and keep the whole thread.
    let mut refs = report.thread_ids();
    refs.retain(|m| m != message_id);
    let parent = report
        .correspondence
        .iter()
        .rev()
        .filter(|c| c.direction == Direction::In)
        .find_map(|c| c.message_id.clone())
        .or_else(|| report.data.message_id.clone());
    // After `keys rotate`, the new key goes with the next mail, once per report.
    let announced = job
        .announced_key
        .as_deref()
        .and_then(|fpr| key_to_announce(ctx.keyring, report).filter(|(new, _)| new == fpr));
    let mut body = entry.body.clone();
    let mut extras = Vec::new();
    if let Some((new, old)) = &announced {
        body.push_str(&format!(
            "\n\n--\nOur OpenPGP key has changed. The new key, {new}, is attached; our \
             previous key {old} certified it, so if you trust that key your OpenPGP \
             software can check the new one (gpg --import the attachment, then \
             gpg --check-sigs {new}). Please encrypt future mail to the new key.\n"
        ));
        extras.push(compose::Extra::GatewayKey);
    }
    compose::seal_message(
        ctx.settings,
        ctx.keyring,
        &Envelope {
            to: &job.to,
            to_name: None,
            subject: outer_subject,
            in_reply_to: parent.as_deref(),
            references: &refs,
            message_id,
            date: now,
            auto_submitted: None,
        },
        &body,
        &extras,
        cert.as_ref(),
        &real_subject,
    )
}

/// After `keys rotate`: the gateway's signing key and the older gateway key that
/// certified it, when the researcher of this open report has not been sent it yet.
fn key_to_announce(keyring: &Keyring, report: &Report) -> Option<(String, String)> {
    if report.status.is_closed() {
        return None;
    }
    let signing = keyring.signing_cert()?;
    let new = signing.fingerprint().to_hex();
    if report.key_announced(&new) {
        return None;
    }
    let old = keyring
        .gateway_keys()
        .iter()
        .map(|g| &g.cert)
        .filter(|c| c.fingerprint() != signing.fingerprint())
        .find(|c| {
            signing.userids().any(|ua| {
                ua.certifications()
                    .any(|sig| sig.get_issuers().iter().any(|h| c.key_handle().aliases(h)))
            })
        })?;
    Some((new, old.fingerprint().to_hex()))
}

/// The answer to a key request: the fingerprint and how to use the attached key. It
/// may go to a forged sender, so it says nothing but what is public.
/// The References of an answer: the message's own, then the message answered.
fn thread_refs(in_reply_to: Option<&str>, references: &[String]) -> Vec<String> {
    let mut refs = references.to_vec();
    refs.extend(in_reply_to.map(str::to_string));
    refs
}

fn key_answer_body(settings: &Settings, keyring: &Keyring) -> Result<String, OutboxError> {
    let cert = keyring.signing_cert().ok_or(OutboxError::NoSigningKey)?;
    Ok(format!(
        "You asked for the OpenPGP key of {address}: it is attached to this message, \
         which it signs.\n\nFingerprint: {fingerprint}\n\nCheck the fingerprint against \
         the one we publish, then send your report encrypted to this key and signed with \
         your own, with your public key attached (or in your client's Autocrypt header) \
         so that our answers are encrypted to you.\n",
        address = settings.gateway.address,
        fingerprint = cert.fingerprint().to_hex(),
    ))
}

fn unreadable_body(settings: &Settings, reason: &str) -> String {
    format!(
        "We received a message from you at {address}, but we could not read it:\n\n  {reason}\n\n\
         It has not been lost: it is kept, and a maintainer can look at it. If it was a \
         vulnerability report, please send it again encrypted to our current OpenPGP public key, \
         which is attached to this message (check its fingerprint against the one we \
         publish), or send it unencrypted if it contains nothing sensitive.\n",
        address = settings.gateway.address,
    )
}
