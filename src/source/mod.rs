//! Where raw messages come from and where they go once their outcome is recorded.
//!
//! This module owns the mailbox layout. It never interprets a message's content and
//! never deletes one: a handled message is moved to `cur/` with the seen flag, a
//! message that could not be handled to the quarantine folder.

pub(crate) mod imap;
pub(crate) mod maildir;

pub(crate) use maildir::{Maildir, MaildirEntry};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("maildir {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("message {path} is {size} bytes, over the {limit}-byte limit for reading")]
    TooLarge {
        path: std::path::PathBuf,
        size: u64,
        limit: u64,
    },
}

impl SourceError {
    /// Whether the same operation may succeed later (a full disk, a permission fixed by
    /// the operator) rather than the message itself being unreadable.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SourceError::Io { .. })
    }
}
