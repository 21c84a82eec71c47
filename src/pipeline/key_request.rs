//! "Send me your key": an unencrypted mail whose subject is `key` (any case), or
//! whose subject and text are both empty, is answered with the gateway's public key
//! and is not a report.
//!
//! The answer is an automatic one (RFC 3834): it only follows the loop filter, goes
//! out within the rate limits of every automatic answer, and says nothing of any
//! report, because the sender may be forged.

use super::message::Message;
use super::{MessageError, Outcome, Pipeline};
use crate::crypto;
use crate::intake::{Envelope, Mailbox};
use crate::store::{IntakeKind, JobKind, NewJob};

/// Text up to this (a greeting, a thank-you) before the signature delimiter still
/// counts as a key request with `Subject: key`; more is taken as a report whose
/// subject happens to be "key", so that nobody's report is answered with a key and
/// set aside.
const MAX_REQUEST_TEXT: usize = 200;

/// Whether the opened message asks for the gateway's key.
pub(super) fn is_key_request(opened: &crypto::Opened, env: &Envelope) -> bool {
    if opened.encrypted || !opened.attachments.is_empty() {
        return false;
    }
    let subject = opened
        .subject
        .as_deref()
        .or(env.subject.as_deref())
        .unwrap_or_default()
        .trim();
    let text = opened.body_text(crate::extract::html_to_text);
    // The signature block (after "-- ", RFC 3676 section 4.3) does not count.
    let text = text.split("\n-- \n").next().unwrap_or_default().trim();
    (subject.eq_ignore_ascii_case("key") && text.chars().count() <= MAX_REQUEST_TEXT)
        || (subject.is_empty() && text.is_empty())
}

impl Pipeline {
    /// Records the request as skipped, with the answer queued when the rate limits
    /// allow it.
    pub(super) fn answer_key_request(
        &self,
        m: &Message<'_>,
        sender: &Mailbox,
    ) -> Result<Outcome, MessageError> {
        let allowed =
            self.store
                .take_send_slot(&sender.address, m.now, &self.settings.rate_limits)?;
        let (reason, answer) = if allowed {
            let job = NewJob::new(
                JobKind::KeyRequest {
                    in_reply_to: m.env.message_id.clone(),
                    references: m.env.references.clone(),
                },
                &sender.address,
                m.now,
            );
            (
                "key request: answered with the public key".to_string(),
                Some(job),
            )
        } else {
            ("key request: no answer sent (rate limit)".to_string(), None)
        };
        self.record(m, IntakeKind::Skipped, reason, answer)
    }
}
