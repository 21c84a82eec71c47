//! disclosured: an email-first vulnerability disclosure gateway.
//!
//! A message travels through the modules in this order, and data flows one way: a stage
//! may use the stages before it, never the ones after it. Only [`pipeline`] and
//! [`daemon`] join stages together.
//!
//! # Layout
//! - [`config`]: the TOML configuration, environment overrides and validation into
//!   typed [`config::Settings`].
//! - [`source`]: where raw messages come from (a local Maildir) and where they go once
//!   handled (`cur/` with the seen flag, or the quarantine folder).
//! - [`intake`]: parsing the outer message, the envelope facts we rely on (Message-ID,
//!   sender, threading headers, Autocrypt) and the RFC 3834 loop filter.
//! - [`crypto`]: the gateway's keys on disk, decryption and signature verification of
//!   incoming mail (PGP/MIME and inline), signing and encryption of outgoing mail.
//! - [`extract`]: the report's fields (title, type, versions, CVSS, ...) from its text.
//! - [`policy`]: the security policy applied to a report: severity, deadlines and
//!   whether they are met, hints for maintainers, the digest schedule.
//! - [`store`]: the only owner of the embedded `sled` database: reports, the intake log
//!   (quarantined and skipped messages), dedupe indexes, learnt keys, the outbox queue.
//! - [`advisory`]: OSV, CSAF 2.0 and CVE 5 advisories from fixed reports (read only).
//! - [`outbox`]: composing what the gateway sends (acknowledgements, notices, replies,
//!   maintainers' notifications, digests and escalations, all PGP/MIME) and delivering
//!   the queued mail through the configured transport.
//! - [`publish`]: the static tree that publishes the channel (security.txt, the Web
//!   Key Directory, the public key, the policy page with its hall of fame).
//! - [`pipeline`]: one message from raw bytes to a recorded outcome (the decision
//!   steps, reporters' keys, threads), and the time-driven work (escalations, digest).
//! - [`daemon`]: the inbox drivers over one decide-store-flush-move driver (Maildir,
//!   IMAP, `run-once`), delivery, shutdown, reload, readiness, the control socket.
//! - [`cli`]: the command-line interface (definitions apart from implementations) and
//!   the log output (journald-friendly under systemd).
//! - [`workers`]: independent items on one thread per core (used by pipeline and outbox).
//! - [`fault`]: the debug builds' fault hook, for the tests of a message or delivery
//!   job that stops the daemon (hang, abort).
//!
//! The modules are private: the binary calls [`main`], and the integration tests,
//! benchmarks and fuzz targets reach what they need through the hidden [`testing`]
//! module, so the compiler reports whatever nothing uses.

// The layout above links the private modules: the docs are for whoever works on the
// crate (`cargo doc --document-private-items`).
#![allow(rustdoc::private_intra_doc_links)]

mod advisory;
mod cli;
mod config;
mod crypto;
mod daemon;
mod extract;
mod fault;
mod intake;
mod outbox;
mod pipeline;
mod policy;
mod publish;
mod source;
mod store;
mod workers;

pub use cli::{main, report_error};

/// What the integration tests, benchmarks and fuzz targets reach inside the crate,
/// and nothing else: the modules above are private, so the compiler reports what
/// nobody uses (`unreachable_pub`, dead code). Not an API.
#[doc(hidden)]
pub mod testing {
    pub mod config {
        pub use crate::config::{Inbox, KeySettings, Limits, Settings};
    }
    pub mod crypto {
        pub use crate::crypto::{KeySource, Keyring, SignatureStatus, open, seal};
    }
    pub mod daemon {
        pub mod control {
            pub use crate::daemon::control::socket_path;
        }
        pub mod maildir {
            pub use crate::daemon::maildir::{INTAKE_BATCH, pass};
        }
        pub mod shutdown {
            pub use crate::daemon::shutdown::Shutdown;
        }
    }
    pub mod extract {
        pub use crate::extract::{
            AffectedRange, FieldName, Fields, extract, find_cvss, html_to_text,
        };
    }
    pub mod intake {
        pub use crate::intake::Mailbox;
    }
    pub mod outbox {
        pub use crate::outbox::{DURABLE_BATCH, deliver_due};
    }
    pub mod pipeline {
        pub use crate::pipeline::{Origin, Pipeline};
    }
    pub mod policy {
        pub use crate::policy::{DeadlineName, Deadlines, next_digest};
    }
    pub mod source {
        pub mod imap {
            pub use crate::source::imap::{ImapInbox, Mailbox, Woke};
        }
    }
    pub mod store {
        pub use crate::store::{
            AttachmentMeta, Commit, Event, JobKind, JobState, NewJob, NewReport, OutcomeRef,
            ReportId, SealCost, Status, Store, StoreKey, seal_cost,
        };
    }
}
