//! The context a message is decided over: what is known of it so far, and what it
//! says once opened. Shared by the decision steps and threading.

use chrono::{DateTime, Utc};

use super::Origin;
use crate::crypto;
use crate::extract;
use crate::intake::{Envelope, Mailbox};

/// One message being decided: what is known of it so far.
pub(super) struct Message<'a> {
    pub(super) raw: &'a [u8],
    pub(super) origin: &'a Origin,
    pub(super) now: DateTime<Utc>,
    pub(super) env: Envelope,
}

/// What a readable message says.
pub(super) struct Content {
    pub(super) opened: crypto::Opened,
    /// From, else the reply address.
    pub(super) from: Mailbox,
    /// The protected Subject, else the outer one; none when empty or a placeholder.
    pub(super) subject: Option<String>,
    /// The text, or the HTML converted to text when there is no text.
    pub(super) text: String,
}

impl Content {
    pub(super) fn of(opened: crypto::Opened, from: Mailbox, env: &Envelope) -> Content {
        // Every text and HTML part in order (HTML rendered by the extractor).
        let text = opened.body_text(extract::html_to_text);
        // The protected Subject wins over an outer placeholder such as "...".
        let subject = opened
            .subject
            .clone()
            .or_else(|| env.subject.clone())
            .filter(|s| !s.trim().is_empty() && s.trim() != "...");
        Content {
            opened,
            from,
            subject,
            text,
        }
    }
}
