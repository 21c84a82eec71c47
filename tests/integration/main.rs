//! Integration tests: the real binary over a temporary Maildir, with GnuPG (the
//! independent OpenPGP implementation) making the reports and checking the replies.
//!
//! - [`util`]: a temporary gateway (config, keys, Maildir, outbox) and a GnuPG home.
//! - [`advisory`]: issue 26, OSV, CSAF 2.0 and CVE 5 advisories checked by their own
//!   validators (and broken ones rejected), drafts, through a running daemon;
//!   [`advisory_rules`]: no leak of notes or the researcher's address, the credit by
//!   signed reply only, advisory details by CLI and by signed mail.
//! - [`pipeline`]: every form of report the core pipeline accepts, and its replies.
//! - [`refusals`]: undecryptable and corrupt mail, loops, duplicates, bad config.
//! - [`hostile`]: a thousand malformed and adversarial messages in one run.
//! - [`review`]: regression tests for the first code review's findings.
//! - [`conversation`]: issue 14, maintainers working by email: signed commands,
//!   answers relayed to the researcher, copies to the team, forged, replayed,
//!   unencrypted and unknown-keyword mail refused.
//! - [`journeys`]: issue 21, the users' roads under `serve` for every way a
//!   researcher's key reaches the gateway (attached, Autocrypt, preloaded, learnt,
//!   none): report, acknowledgement, maintainers' mail and commands, follow-ups,
//!   replies, digest and escalation on the daemon's timers, SMTP failures.
//! - [`manual`]: issue 23, `--version` with the commit, `--help` as a manual, exit
//!   statuses, and SECURITY.md in step with `disclosured policy`.
//! - [`quickstart`]: issue 23, README's quick start pasted as it stands.
//! - [`lifecycle`]: the maintainers' side: states, deadlines, threading, notifications,
//!   escalations and digests (each maintainer's GnuPG decrypts what they get).
//! - [`daily`]: issue 23's daily work: `reports set` says whether the researcher
//!   was told (and mail's `X-NOTIFY`), every clock in acknowledgements and status
//!   mails, the mail workflow in notifications, taken mail listed as taken, human
//!   timestamps where people read and RFC 3339 in `--json`.
//! - [`disclosure`]: issue 27, coordinated disclosure: embargoes proposed, set,
//!   accepted, revised and exited by signed mail and the command line, each refusal,
//!   and the researcher told of each step.
//! - [`daemon`]: `serve` picks up a report, answers it, and stops on a signal.
//! - [`control_stream`]: issue 29, a large listing streamed through the control socket,
//!   byte for byte as without a daemon, and a daemon killed midway is an error.
//! - [`crash`]: `serve` killed with SIGKILL at random moments over a backlog.
//! - [`keys`]: a GnuPG-made passphrase-protected key through `keys import`, start-up
//!   errors when it cannot be unlocked, `keys rotate`, and the journald log format.
//! - [`keys_late`]: issue 23 items 3, 10 and 12: a key that arrives after the report
//!   it signed proves it (and look-alike keys or unverifiable signatures do not),
//!   failed and bounced deliveries recorded on the report, `keys rotate` certified
//!   by the old key and announced to researchers.
//! - [`servers`]: real Dovecot and SMTP servers on 127.0.0.1 for [`network`].
//! - [`network`]: IMAP (IDLE, polling, restarts, moves) and SMTP (retries, 5xx).
//! - [`trust`]: the trust model attacked: decryption oracles, key poisoning, key-ID
//!   hijack, thread injection, reflection, file permissions, terminal escapes, key
//!   growth, unsigned forwarded parts, and what a content-free answer may say.
//! - [`trust_mail`]: issues 22, 23 and 21 on maintainers' mail: the report named only
//!   by what was signed, re-wrapped ciphertexts and unhashed subpackets refused,
//!   the fail-closed relay, replayed follow-ups, replies to team mail kept in the
//!   team, and mail as Thunderbird, Outlook, HTML-only and LF-only clients write it.
//! - [`extract_corpus`]: issue 24's evaluation corpus (reports modelled on public
//!   advisories): accuracy per language and field, failing below the floor.
//! - [`extract_languages`]: field extraction in 14 languages and the layouts of issue 16,
//!   one table of reports per language in `tests/fixtures/extract/`.
//! - [`layouts`]: issue 15, every layout clients and providers produce: encrypted and
//!   signed parts anywhere in the tree, rewritten by Exchange, wrapped in S/MIME, in
//!   HTML; S/MIME-encrypted and passphrase-only mail; two From headers.
//! - [`layouts3_a`]: issue 25, Outlook/GpgOL's internal MIME form, inline PGP with
//!   CRLF and mixed line ends, inline PGP in an ISO-8859-15 part, an armor header
//!   quoted in prose.
//! - [`layouts3_b`]: issue 25, defects 4 and 6: CAST5 and 3DES PGP/MIME read and
//!   marked, a cipher the gateway cannot read refused by name, and KMail's
//!   multipart/signed with two binary attachments.
//! - [`layouts3_c`]: issue 25, defect 4: text signatures judged as GnuPG judges
//!   them over every spelling of line ends, and still bad when tampered, by a
//!   wrong, expired or revoked key, or over SHA-1.
//! - [`layouts3_d`]: issue 25, defects 5 and 2: a BAD signature by a key in the
//!   Autocrypt header (or attached, or bound with SHA-1) recorded as bad; inline
//!   armor read as GnuPG reads it.
//! - [`publication`]: issue 26 items 1 to 4: `publish` (security.txt checked by sectxt
//!   and GnuPG, the WKD by gpg-wks-client and GnuPG), the policy page, `doctor` on the
//!   published file, the Autocrypt header of every outgoing mail, key by mail.
//! - [`ops`]: operator tooling: `status`, `doctor` (also against Dovecot and the SMTP
//!   server), `backup` and `restore`, beside a running daemon and without one.
//! - [`poison`]: issue 21's poison messages (a message that hangs the daemon is named
//!   while it hangs and quarantined after two stops) and issue 23's clients that give
//!   up on a daemon that does not answer (SIGSTOP).
//! - [`sealing`]: issue 28, reports sealed at rest: canaries searched for in the
//!   store's files (found in clear, never sealed, gone after a purge), a wrong or
//!   missing store key, a clear store sealed in place under SIGKILL.
//! - [`sysadmin`]: issue 18's findings on a fresh install: checks that create nothing,
//!   credentials from a shell, a running daemon named by pid, a long store path, an
//!   expired key.
//! - [`trust_ops`]: issue 22's operations attacks (a crafted backup, a next ID of
//!   2^62, maintainer mail replayed after a restore, U-label domains, revocations in
//!   a follow-up, anonymous recipients, loose credentials) and issue 23's restore on
//!   an empty host.
//! - [`workday`]: issue 23's maintainers' daily commands: details corrected by command
//!   and mail, filled by a signed follow-up; attachments saved; list filters;
//!   assignees told; the audit actor; `doctor`/`check-config` that do not mislead.

#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod advisory;
mod advisory_rules;
mod control_stream;
mod conversation;
mod crash;
mod daemon;
mod daily;
mod disclosure;
mod extract_corpus;
mod extract_languages;
mod hostile;
mod journeys;
mod keys;
mod keys_late;
mod layouts;
mod layouts3_a;
mod layouts3_b;
mod layouts3_c;
mod layouts3_d;
mod lifecycle;
mod manual;
mod network;
mod ops;
mod pipeline;
mod poison;
mod publication;
mod quickstart;
mod refusals;
mod review;
mod sealing;
mod servers;
mod sysadmin;
mod trust;
mod trust_mail;
mod trust_ops;
mod util;
mod workday;
