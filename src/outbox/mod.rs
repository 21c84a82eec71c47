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

pub mod compose;
pub mod digest;
pub mod file;
pub mod notify;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use lettre::Transport as _;
use sequoia_openpgp::Cert;

use crate::config::{Outbox as OutboxSettings, Settings};
use crate::crypto::{Keyring, SignatureStatus, Team, seal::SealError};
use crate::extract::FieldName;
use crate::store::{Direction, Job, JobKind, JobState, OutcomeRef, Report, Store, StoreError};
use compose::{Envelope, Extra, Rendered, sanitize_header_text};

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

/// How queued mail leaves the gateway.
pub enum Transport {
    File(file::FileOutbox),
    Smtp(Box<lettre::SmtpTransport>),
    Sendmail(lettre::SendmailTransport),
}

impl Transport {
    /// Builds the transport once at start; the SMTP password is read here, so a
    /// missing or unsafe password file stops the start-up with a clear message.
    pub fn from_settings(settings: &OutboxSettings) -> Result<Transport, OutboxError> {
        match settings {
            OutboxSettings::File { path } => file::FileOutbox::open(path)
                .map(Transport::File)
                .map_err(|e| OutboxError::Setup(e.to_string())),
            OutboxSettings::Smtp(smtp) => {
                smtp_transport(smtp).map(|t| Transport::Smtp(Box::new(t)))
            }
            OutboxSettings::Sendmail { command } => Ok(Transport::Sendmail(
                lettre::SendmailTransport::new_with_command(command.as_os_str()),
            )),
        }
    }

    fn send(&self, from: &str, to: &str, bytes: &[u8]) -> Result<(), OutboxError> {
        let from: lettre::Address = from
            .parse()
            .map_err(|e: lettre::address::AddressError| OutboxError::Compose(e.to_string()))?;
        let to: lettre::Address = to
            .parse()
            .map_err(|e: lettre::address::AddressError| OutboxError::BadRecipient(e.to_string()))?;
        let envelope = lettre::address::Envelope::new(Some(from), vec![to])
            .map_err(|e| OutboxError::Compose(e.to_string()))?;
        match self {
            // The file transport has no envelope: the headers say who it is for.
            // Its directory is synced once per batch (`Transport::sync`).
            Transport::File(t) => t
                .send_unsynced(bytes)
                .map(|_| ())
                .map_err(|e| OutboxError::Transport(e.to_string())),
            Transport::Smtp(t) => t.send_raw(&envelope, bytes).map(|_| ()).map_err(|e| {
                // Only a 5xx reply is final; a dropped connection, a timeout or a 4xx
                // may go through later.
                if e.is_permanent() {
                    OutboxError::Rejected(e.to_string())
                } else {
                    OutboxError::Transport(e.to_string())
                }
            }),
            Transport::Sendmail(t) => t
                .send_raw(&envelope, bytes)
                .map_err(|e| OutboxError::Transport(e.to_string())),
        }
    }
}

impl Transport {
    /// Makes what [`Transport::send`] accepted durable where that is the gateway's
    /// job: the file transport's directory. A relay has the message once it answered.
    fn sync(&self) -> Result<(), OutboxError> {
        match self {
            Transport::File(t) => t.sync().map_err(|e| OutboxError::Transport(e.to_string())),
            Transport::Smtp(_) | Transport::Sendmail(_) => Ok(()),
        }
    }
}

fn smtp_transport(s: &crate::config::SmtpSettings) -> Result<lettre::SmtpTransport, OutboxError> {
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    let setup = |e: lettre::transport::smtp::Error| OutboxError::Setup(e.to_string());
    let mut params = TlsParameters::builder(s.host.clone());
    if let Some(ca) = &s.ca_file {
        let pem =
            std::fs::read(ca).map_err(|e| OutboxError::Setup(format!("{}: {e}", ca.display())))?;
        params = params.add_root_certificate(Certificate::from_pem(&pem).map_err(setup)?);
    }
    let params = params.build_rustls().map_err(setup)?;
    let tls = match s.tls {
        crate::config::Tls::Implicit => Tls::Wrapper(params),
        crate::config::Tls::StartTls => Tls::Required(params),
        crate::config::Tls::None => {
            tracing::warn!(host = %s.host, "SMTP without TLS: mail and password cross the network in clear text");
            Tls::None
        }
    };
    let mut builder = lettre::SmtpTransport::builder_dangerous(&s.host)
        .port(s.port)
        .tls(tls)
        .timeout(Some(s.timeout));
    if let Some((user, secret)) = &s.auth {
        builder = builder.credentials(Credentials::new(user.clone(), secret.read()?));
    }
    Ok(builder.build())
}

/// What one delivery round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub sent: usize,
    pub deferred: usize,
    pub failed: usize,
}

/// What rendering and sending need besides the job.
pub struct Context<'a> {
    pub store: &'a Store,
    pub settings: &'a Settings,
    pub keyring: &'a Keyring,
    pub team: &'a Team,
    pub transport: &'a Transport,
}

/// Sends every job that is due. One job's failure is recorded on that job and the round
/// goes on; only a store failure ends it.
pub fn deliver_due(ctx: &Context<'_>, now: DateTime<Utc>) -> Result<Delivered, StoreError> {
    let store = ctx.store;
    let jobs = store.due_jobs(now)?;
    if jobs.is_empty() {
        return Ok(Delivered::default());
    }
    // A job is visible as soon as its transaction is applied, possibly before the
    // flush that makes its report durable: persist first, answer last, or a crash
    // could leave a reporter holding a report ID the store never kept.
    store.flush()?;
    let mut done = Delivered::default();
    for batch in jobs.chunks(DURABLE_BATCH) {
        deliver_batch(ctx, batch, now, &mut done)?;
    }
    Ok(done)
}

/// How many messages are sent between two store flushes. A crash after the transport
/// accepted a message and before the flush that records it sends that message again
/// (the same Message-ID): at most this many per crash, and no message
/// more than once per crash. One flush per message made the flushes and file syncs,
/// taken in turn, the gateway's bottleneck (backlog bench: delivery of 1,000
/// acknowledgements 2.8 s; 1.9 s with batches of 16, 2.1 s with 8); the crash test
/// shows the price (duplicates per 100 kills: 10-28 one at a time, 199 with 8, 264
/// with 16, in the debug build where a batch takes long enough to be cut often).
pub const DURABLE_BATCH: usize = 8;

/// One batch, on every core: each job rendered (signed and encrypted, unless it kept
/// its rendering from an earlier try) and handed to the transport; then the transport
/// synced, the outcomes saved in one transaction, one flush. A job keeps its
/// rendering until it is sent, so a retry after a failed attempt sends the very same
/// message; after a crash before the flush it is rendered again under the same
/// Message-ID (all a duplicate can be recognised by: the ciphertext differs anyway).
fn deliver_batch(
    ctx: &Context<'_>,
    batch: &[Job],
    now: DateTime<Utc>,
    done: &mut Delivered,
) -> Result<(), StoreError> {
    let store = ctx.store;
    // Two threads per core: each message waits for its sync (or the relay's answer)
    // after its cryptography, and the other thread uses the core meanwhile.
    let threads = 2 * crate::workers::cores();
    let results = crate::workers::map_on(threads, batch, 2, |job| {
        let mut job = job.clone();
        let span = tracing::info_span!("deliver", job = job.id, kind = kind_name(&job.kind));
        let _enter = span.enter();
        job.tries += 1;
        let result = match render_if_needed(ctx, &mut job, now) {
            Ok(()) => {
                let bytes = job.message.as_deref().unwrap_or_default().as_bytes();
                ctx.transport
                    .send(&ctx.settings.gateway.address, &job.to, bytes)
            }
            // The store failed under this job: it is left as it was (not tried);
            // the batch's other jobs may have been sent and are recorded all the same.
            Err(OutboxError::Store(e)) => return (None, Some(e)),
            Err(e) => Err(e),
        };
        settle(ctx, &mut job, result, now);
        (Some(job), None)
    });
    let mut failure = None;
    let mut attempted = Vec::with_capacity(results.len());
    for (job, error) in results {
        attempted.extend(job);
        if failure.is_none() {
            failure = error;
        }
    }
    if let Err(e) = ctx.transport.sync() {
        // What was written may not survive a power cut: not sent yet, as far as the
        // store knows; sent again later (the same Message-ID).
        for job in attempted.iter_mut().filter(|j| j.state == JobState::Sent) {
            job.state = JobState::Pending;
            job.sent_at = None;
            settle(ctx, job, Err(OutboxError::Transport(e.to_string())), now);
        }
    }
    // A store error here leaves the batch unrecorded: its messages go again (the
    // same Message-IDs), within the bound above.
    store.save_jobs(&attempted)?;
    for job in &attempted {
        count(done, job.state);
    }
    store.flush()?;
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn count(done: &mut Delivered, state: JobState) {
    match state {
        JobState::Sent => done.sent += 1,
        JobState::Pending => done.deferred += 1,
        JobState::Failed => done.failed += 1,
    }
}

/// Records the outcome of one attempt on its job.
fn settle(ctx: &Context<'_>, job: &mut Job, result: Result<(), OutboxError>, now: DateTime<Utc>) {
    let settings = ctx.settings;
    match result {
        Ok(()) => {
            job.state = JobState::Sent;
            job.sent_at = Some(Utc::now());
            job.last_error = None;
            // Kept only so that a retry sends the same bytes; the Message-ID stays.
            job.message = None;
            tracing::info!(tries = job.tries, "message sent");
        }
        Err(e) => {
            job.last_error = Some(e.to_string());
            let expired = now >= job.created_at + to_chrono(settings.retry.expire_after);
            if e.is_permanent() {
                job.state = JobState::Failed;
                tracing::warn!(error = %e, "message failed permanently");
            } else if expired {
                job.state = JobState::Failed;
                job.last_error = Some(format!("gave up after {} tries: {e}", job.tries));
                tracing::warn!(error = %e, tries = job.tries, "message expired undelivered");
            } else {
                let delay = retry_delay(&settings.retry, job.tries);
                job.next_attempt = now + delay;
                tracing::warn!(error = %e, retry_in_s = delay.num_seconds(), "message deferred");
            }
        }
    }
}

fn to_chrono(d: std::time::Duration) -> ChronoDuration {
    ChronoDuration::from_std(d).unwrap_or(ChronoDuration::MAX)
}

/// The wait before the next attempt after `tries` failed ones: the schedule's step
/// (the last step repeats), varied at random by up to the jitter fraction.
pub fn retry_delay(retry: &crate::config::Retry, tries: u32) -> ChronoDuration {
    let idx = usize::try_from(tries.saturating_sub(1)).unwrap_or(usize::MAX);
    let base = retry
        .schedule
        .get(idx)
        .or(retry.schedule.last())
        .copied()
        .unwrap_or(std::time::Duration::from_secs(3600));
    let factor = if retry.jitter > 0.0 {
        1.0 + rand::random_range(-retry.jitter..=retry.jitter)
    } else {
        1.0
    };
    to_chrono(base.mul_f64(factor.max(0.0)))
}

pub fn kind_name(kind: &JobKind) -> &'static str {
    match kind {
        JobKind::Ack => "acknowledgement",
        JobKind::Unreadable { .. } => "unreadable_notice",
        JobKind::Reply => "reply",
        JobKind::NewReport => "new_report_notice",
        JobKind::FollowUp { .. } => "follow_up_notice",
        JobKind::Escalation { .. } => "escalation",
        JobKind::Digest { .. } => "digest",
    }
}

/// A fresh Message-ID in the gateway's domain.
pub fn new_message_id(settings: &Settings, tag: &str) -> String {
    format!(
        "disclosured.{tag}.{:016x}@{}",
        rand::random::<u64>(),
        settings
            .gateway
            .address
            .rsplit_once('@')
            .map_or("localhost", |(_, d)| d)
    )
}

fn render_if_needed(
    ctx: &Context<'_>,
    job: &mut Job,
    now: DateTime<Utc>,
) -> Result<(), OutboxError> {
    let (store, settings, keyring) = (ctx.store, ctx.settings, ctx.keyring);
    if job.message.is_some() {
        return Ok(());
    }
    let message_id = job.message_id.clone().unwrap_or_else(|| {
        format!(
            "disclosured.{}.{}@{}",
            job.id,
            job.created_at.timestamp(),
            settings
                .gateway
                .address
                .rsplit_once('@')
                .map_or("localhost", |(_, d)| d)
        )
    });
    let report_of = |job: &Job| -> Result<Report, OutboxError> {
        match &job.outcome {
            Some(OutcomeRef::Report(id)) => store
                .report(id.as_str())?
                .ok_or_else(|| OutboxError::Compose(format!("report {id} is not in the store"))),
            _ => Err(OutboxError::Compose(format!(
                "{} without a report",
                kind_name(&job.kind)
            ))),
        }
    };
    let rendered = match (&job.kind, &job.outcome) {
        (JobKind::Reply, _) => render_reply(ctx, &report_of(job)?, job, &message_id, now)?,
        (JobKind::NewReport | JobKind::FollowUp { .. } | JobKind::Escalation { .. }, _) => {
            notify::render(ctx, &report_of(job)?, job, &message_id, now)?
        }
        (JobKind::Digest { text, subject }, _) => {
            notify::render_digest(ctx, job, text, subject, &message_id, now)?
        }
        (JobKind::Ack, Some(OutcomeRef::Report(id))) => {
            let report = store
                .report(id.as_str())?
                .ok_or_else(|| OutboxError::Compose(format!("report {id} is not in the store")))?;
            let cert = answer_cert(store, keyring, &report)?;
            render_ack(
                settings,
                keyring,
                &report,
                cert.as_ref(),
                &job.to,
                &message_id,
                now,
            )?
        }
        (
            JobKind::Unreadable {
                reason,
                in_reply_to,
                references,
                ..
            },
            _,
        ) => {
            let body = unreadable_body(settings, reason);
            // Nothing of the unreadable message is echoed back, not even its
            // subject: the notice may go to a forged sender.
            let subject = "Could not read your message".to_string();
            let mut refs = references.clone();
            if let Some(parent) = in_reply_to {
                refs.push(parent.clone());
            }
            compose::seal_message(
                settings,
                keyring,
                &Envelope {
                    to: &job.to,
                    subject,
                    in_reply_to: in_reply_to.as_deref(),
                    references: &refs,
                    message_id: &message_id,
                    date: now,
                    auto_submitted: Some("auto-replied"),
                },
                &body,
                &[Extra::GatewayKey],
                None,
                "",
            )?
        }
        (JobKind::Ack, _) => {
            return Err(OutboxError::Compose(
                "acknowledgement without a report".into(),
            ));
        }
    };
    let Rendered { bytes, message_id } = rendered;
    // What we compose is 7-bit (quoted-printable, base64 and armor), so it is text.
    job.message = Some(String::from_utf8_lossy(&bytes).into_owned());
    job.message_id = Some(message_id);
    Ok(())
}

/// The certificate an answer to `report` is encrypted to: the one the report proved
/// ([`Report::answer_key`]), found by its primary fingerprint among the pre-loaded
/// keys, then the learnt ones (and the keys earlier versions kept for one answer).
/// Never chosen by address or by key ID. `Ok(None)`: answer without encryption,
/// saying nothing of the report.
pub fn answer_cert(
    store: &Store,
    keyring: &Keyring,
    report: &Report,
) -> Result<Option<Cert>, StoreError> {
    let Some(fingerprint) = report.answer_key() else {
        return Ok(None);
    };
    let is_it = |c: &Cert| c.fingerprint().to_hex() == fingerprint;
    if let Some(c) = keyring.reporters().iter().find(|c| is_it(c)) {
        return Ok(Some(c.clone()));
    }
    let bytes = match store.learnt_cert(fingerprint)? {
        Some(b) => b,
        None => match store.offered_key(fingerprint)? {
            Some(b) => b,
            None => return Ok(None),
        },
    };
    Ok(crate::crypto::parse_certs(&bytes)
        .0
        .into_iter()
        .find(|c| is_it(c) && crate::crypto::can_encrypt_to(c)))
}

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
pub fn render_ack(
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
        body.push_str(if !proven {
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

    let mut refs = r.message_id.iter().cloned().collect::<Vec<_>>();
    refs.truncate(1);
    compose::seal_message(
        settings,
        keyring,
        &Envelope {
            to,
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
            "signed by a key we do not have; attach your public key to verify".into()
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
            body.push_str(&format!("  {}: {}\n", f.label(), one_line(&value, 100)));
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
    let outer_subject = if cert.is_some() {
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
    compose::seal_message(
        ctx.settings,
        ctx.keyring,
        &Envelope {
            to: &job.to,
            subject: outer_subject,
            in_reply_to: parent.as_deref(),
            references: &refs,
            message_id,
            date: now,
            auto_submitted: None,
        },
        &entry.body,
        &[],
        cert.as_ref(),
        &real_subject,
    )
}

/// The report's title, made safe for a Subject header, or `fallback`.
pub fn subject_title(report: &Report, fallback: &str) -> String {
    report
        .data
        .fields
        .title
        .as_deref()
        .map(|t| sanitize_header_text(t, compose::MAX_SUBJECT_TEXT))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| fallback.to_string())
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

fn one_line(text: &str, max: usize) -> String {
    sanitize_header_text(text, max)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn retry_delays_follow_the_schedule_with_bounded_jitter() {
        let retry = crate::config::Retry {
            schedule: vec![Duration::from_secs(60), Duration::from_secs(300)],
            jitter: 0.1,
            expire_after: Duration::from_secs(3 * 86400),
        };
        for (tries, base) in [(1, 60.0), (2, 300.0), (3, 300.0), (50, 300.0)] {
            for _ in 0..50 {
                let d = retry_delay(&retry, tries).num_milliseconds() as f64 / 1000.0;
                assert!(
                    d >= base * 0.9 - 0.001 && d <= base * 1.1 + 0.001,
                    "{tries}: {d}"
                );
            }
        }
        let exact = crate::config::Retry {
            jitter: 0.0,
            ..retry
        };
        assert_eq!(retry_delay(&exact, 1), ChronoDuration::seconds(60));
    }
}
