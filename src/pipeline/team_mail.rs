//! Maintainers' mail: a maintainer answers and acts on a report by email. A message
//! is a maintainer's when a key of `[[maintainers]]` signed everything inside its
//! encryption (`Opened::proven`); the From address never decides. The report it
//! concerns is named inside what was signed. Its command lines go through the same
//! checks as `reports set`; the text after them is relayed to the researcher as the
//! gateway's own mail, encrypted to the key the report proved. Each signature acts
//! once, and only while it is recent. Whatever is refused is recorded with its reason
//! and answered only to the configured address of the maintainer whose key signed
//! it: never to a From anyone can write.

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::commands::{self, Commands, Keyword};
use super::message::{Content, Message};
use super::{MessageError, Outcome, Pipeline};
use crate::crypto::{self, Member, SignatureStatus};
use crate::extract::Severity;
use crate::outbox;
use crate::policy::human_time;
use crate::store::{
    Change, Correspondence, Direction, Event, IntakeKind, JobKind, NewJob, RejectReason, Report,
    ReportId, Status, StoreError,
};

/// How far ahead of our clock a maintainer's signature may be dated: their clock and
/// ours differ by a little, and a message signed "in the future" beyond that is one
/// made to outlive `max_age`.
const CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// Why a maintainer's message was not taken, or a failure that is not about it.
enum Refusal {
    Refused(String),
    Failed(MessageError),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Refusal {
        Refusal::Failed(e.into())
    }
}

/// What a maintainer's message asks for, checked and ready to commit.
struct Plan {
    report: Report,
    change: Change,
    commands: Commands,
    /// What of the text may go to the researcher ([`commands::relayable`]).
    text: String,
    /// Relay the text, encrypted when the report proved a key.
    relay: Option<bool>,
    /// Why text that is not relayed stays in the team, when there is such text.
    kept: Option<Kept>,
}

/// Why a maintainer's text stays in the team.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kept {
    /// `X-INTERNAL: yes` or `X-RELAY: no`.
    Asked,
    /// The message answers no mail that carried the researcher's words (a team
    /// copy, an escalation, the digest, or nothing), and has no `X-RELAY: yes`.
    TeamThread,
}

impl Pipeline {
    /// Takes a maintainer's message, or refuses one that claims to be theirs; `None`
    /// for anyone else's mail.
    pub(super) fn maintainer_mail(
        &self,
        m: &Message<'_>,
        c: &Content,
    ) -> Result<Option<Outcome>, MessageError> {
        let proven_member = c
            .opened
            .proven
            .as_ref()
            .and_then(|p| self.member_by_primary(&p.fingerprint));
        let Some(member) = proven_member else {
            return self.claimed_maintainer_mail(m, c);
        };
        let outcome = match self.take(m, c, member) {
            Ok(outcome) => outcome,
            Err(Refusal::Refused(why)) => {
                self.refuse_team_mail(m, Some((member, &c.opened)), why)?
            }
            Err(Refusal::Failed(e)) => return Err(e),
        };
        Ok(Some(outcome))
    }

    /// The replay keys of every good signature `member`'s key made in the message.
    fn member_signatures(opened: &crypto::Opened, member: &Member) -> Vec<String> {
        let fpr = member.cert.fingerprint().to_hex();
        opened
            .good_signatures
            .iter()
            .filter(|(f, _)| f.eq_ignore_ascii_case(&fpr))
            .map(|(_, mark)| mark.digest.clone())
            .collect()
    }

    /// The maintainer whose key (by primary fingerprint) this is.
    fn member_by_primary(&self, fingerprint: &str) -> Option<&Member> {
        self.team.members().iter().find(|mb| {
            mb.cert
                .fingerprint()
                .to_hex()
                .eq_ignore_ascii_case(fingerprint)
        })
    }

    /// Mail that a maintainer's key signed without proving all of it (outside the
    /// encryption, or over part of it), or that comes from a maintainer's address
    /// about a report without their signature: not theirs, and never acted on.
    fn claimed_maintainer_mail(
        &self,
        m: &Message<'_>,
        c: &Content,
    ) -> Result<Option<Outcome>, MessageError> {
        let signer = (c.opened.signature == SignatureStatus::Good)
            .then_some(c.opened.signer_fingerprint.as_deref())
            .flatten()
            .and_then(|f| self.member_by_primary(f));
        if let Some(member) = signer {
            let why = "the signature by your key does not cover all of the message inside \
                       the encryption (signed outside it, or text or parts outside the \
                       signature)"
                .to_string();
            return self
                .refuse_team_mail(m, Some((member, &c.opened)), why)
                .map(Some);
        }
        let from_member = self.team.member(&c.from.address).is_some();
        if !from_member
            || self
                .referenced_reports(&m.env, c.subject.as_deref())?
                .is_empty()
        {
            return Ok(None);
        }
        // A bad signature is no proof of who made it (altered, or dated in the
        // future, which sequoia does not take as good): nobody is answered.
        let why = format!(
            "from maintainer address {} about a report, but not signed inside the encryption \
             by that maintainer's key (signature: {}): not taken as theirs",
            c.from.address,
            c.opened.signature.as_str()
        );
        self.refuse_team_mail(m, None, why).map(Some)
    }

    /// Records a refused maintainer's message (quarantined, never relayed) and, when
    /// a maintainer's key signed it, tells that maintainer at their configured
    /// address, encrypted to their configured key. Every good signature that key made
    /// in the message is recorded as used first: a refused signature is never taken
    /// later, however it is wrapped again.
    fn refuse_team_mail(
        &self,
        m: &Message<'_>,
        signed: Option<(&Member, &crypto::Opened)>,
        why: String,
    ) -> Result<Outcome, MessageError> {
        warn!(reason = %why, "maintainer mail refused");
        if let Some((member, opened)) = signed {
            self.store
                .mark_signatures_used(&Self::member_signatures(opened, member), m.now)?;
        }
        let member = signed.map(|(mb, _)| mb);
        // Anyone who captured a maintainer's mail can send it again and again: the
        // answers to its replays count against the same limits as all automatic mail.
        let member = match member {
            Some(mb)
                if !self.store.take_send_slot(
                    &mb.address,
                    m.now,
                    &self.settings.rate_limits,
                )? =>
            {
                let reason = format!(
                    "maintainer mail signed by {}: {why}; no answer sent (rate limit)",
                    mb.address
                );
                return self.record(m, IntakeKind::Quarantined, reason, None);
            }
            other => other,
        };
        // The report the refused mail answers, when its threading names exactly one:
        // the answer goes only to the maintainer whose key signed it.
        let about = match member {
            Some(_) => {
                let found = self.referenced_reports(&m.env, None)?;
                match found.as_slice() {
                    [one] => Some(one.clone()),
                    _ => None,
                }
            }
            None => None,
        };
        let notice = member.map(|mb| {
            let text = format!(
                "Your message {about_text}to {gateway} was not taken: nothing in it was \
                 applied and nothing was relayed to anyone.\n\n  {why}\n\nMessage-ID: {mid}\n\
                 Received: {at}\n\n{HOW_TO_WRITE}\n",
                about_text = about
                    .as_ref()
                    .map(|id| format!("about {id} "))
                    .unwrap_or_default(),
                gateway = self.settings.gateway.address,
                mid = m.env.message_id.as_deref().unwrap_or("(none)"),
                at = human_time(m.now),
            );
            // Threaded to the refused mail, so the maintainer's client shows why under it.
            let mut references = m.env.references.clone();
            references.extend(m.env.message_id.iter().cloned());
            NewJob::new(
                JobKind::TeamNotice {
                    text,
                    subject: match &about {
                        Some(id) => format!("[{id}] Your message was not taken"),
                        None => "Your message was not taken".into(),
                    },
                    in_reply_to: m.env.message_id.clone(),
                    references,
                },
                &mb.address,
                m.now,
            )
        });
        // One line in `quarantine list`, however many command lines were refused.
        let why = why.replace("\n  ", "; ").replace('\n', " ");
        let reason = match member {
            Some(mb) => format!("maintainer mail signed by {}: {why}", mb.address),
            None => why,
        };
        self.record(m, IntakeKind::Quarantined, reason, notice)
    }

    /// Checks and commits a maintainer's message; a refusal changes nothing.
    fn take(&self, m: &Message<'_>, c: &Content, member: &Member) -> Result<Outcome, Refusal> {
        let proven = c
            .opened
            .proven
            .as_ref()
            .ok_or_else(|| Refusal::Refused("no signature".into()))?;
        if !c.opened.encrypted {
            return Err(Refusal::Refused(
                "signed but not encrypted: its text has already crossed the network in \
                 clear, so it is not relayed and nothing in it is applied. Send it again \
                 encrypted to the gateway's key."
                    .into(),
            ));
        }
        self.check_fresh(proven, m.now)?;
        if !proven.outermost {
            return Err(Refusal::Refused(
                "your signature was not made with the message's encryption: what you \
                 signed came inside an encryption layer (or beside content) that your \
                 signature does not cover, as when someone wraps a message you signed in \
                 an encryption of their own. Sign and encrypt in one step, as your mail \
                 client does when both are switched on."
                    .into(),
            ));
        }
        let first = first_text(&c.opened);
        let (commands, errors) = commands::parse_all(&first);
        if !errors.is_empty() {
            // Every refused line at once: the ones that could not be read, and the
            // values of the others that `reports set` would refuse.
            let mut all: Vec<String> = errors.iter().map(ToString::to_string).collect();
            all.extend(self.change_errors(&commands)?);
            return Err(Refusal::Refused(refused_lines(&all)));
        }
        let report = self.named_report(c, proven, &commands)?;
        let answers_researcher = self.answers_researcher(m, proven, &report)?;
        let plan = self.plan(report, commands, member, answers_researcher, m.now)?;
        let digests: Vec<String> = proven.signatures.iter().map(|s| s.digest.clone()).collect();
        self.commit(m, member, plan, &digests)
    }

    /// A signature acts once, and only within `max_age` of when it was made.
    fn check_fresh(&self, proven: &crypto::Proven, now: DateTime<Utc>) -> Result<(), Refusal> {
        if proven.signatures.is_empty() {
            return Err(Refusal::Refused("no signature to date".into()));
        }
        let max_age = crate::policy::chrono_duration(self.settings.maintainers_mail.max_age);
        // A restore forgets the signatures taken after its backup was made.
        let restored = self.store.signatures_not_before()?;
        for sig in &proven.signatures {
            let Some(made) = sig.created.map(DateTime::<Utc>::from) else {
                return Err(Refusal::Refused(
                    "the signature has no creation time".into(),
                ));
            };
            if made > now + CLOCK_SKEW {
                return Err(Refusal::Refused(format!(
                    "the signature is dated in the future ({})",
                    human_time(made)
                )));
            }
            if made < now - max_age {
                return Err(Refusal::Refused(format!(
                    "the signature was made at {}, longer ago than maintainers_mail.max_age: \
                     an old message sent again changes nothing",
                    human_time(made)
                )));
            }
            // Signature times are whole seconds, and so is the restore's: a signature
            // of the restore's own second may be older than it, so it is refused too.
            if let Some(restored) = restored
                && made <= restored
            {
                return Err(Refusal::Refused(format!(
                    "the signature was made at {}, before this gateway's store was restored \
                     from a backup ({}): a message signed before a restore is never taken; \
                     send it again",
                    human_time(made),
                    human_time(restored)
                )));
            }
            if self.store.signature_used(&sig.digest)?
                || self.store.signature_used(&sig.packet_digest)?
            {
                return Err(Refusal::Refused(
                    "replayed: this signature was already taken once".into(),
                ));
            }
        }
        Ok(())
    }

    /// Whether the message answers mail that carried the researcher's words to the
    /// team: the report's new-report notification (to any maintainer) or a reporter
    /// follow-up notice. Read from the In-Reply-To inside the signed entity when the
    /// client protects its headers, else from the outer one.
    fn answers_researcher(
        &self,
        m: &Message<'_>,
        proven: &crypto::Proven,
        report: &Report,
    ) -> Result<bool, Refusal> {
        let signed = &proven.signed_headers.in_reply_to;
        let ids = if signed.is_empty() {
            &m.env.in_reply_to
        } else {
            signed
        };
        for id in ids {
            let id = id.trim_matches(|c| c == '<' || c == '>');
            let root = self.team.members().iter().any(|mb| {
                outbox::thread_root(&self.settings, report.id.as_str(), &mb.address)
                    .eq_ignore_ascii_case(id)
            });
            let notice = id.starts_with(FOLLOWUP_TAG)
                && self.store.thread_of(id)?.is_some_and(|r| r == report.id);
            if root || notice {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The report the message names inside what was signed: `X-REPORT:`, else the
    /// Subject of the signed entity's own (protected) headers, else the one report ID
    /// in the signed text. A Subject of anything outside the signed entity never
    /// names a report.
    fn named_report(
        &self,
        c: &Content,
        proven: &crypto::Proven,
        commands: &Commands,
    ) -> Result<Report, Refusal> {
        let prefix = &self.settings.gateway.report_id_prefix;
        let found = |id: &str| -> Result<Option<Report>, StoreError> {
            match ReportId::parse(id) {
                Some(id) => self.store.report(&id),
                None => Ok(None),
            }
        };
        if let Some((line, value)) = commands.value(Keyword::Report) {
            return found(value)?.ok_or_else(|| {
                Refusal::Refused(format!("line {line}: X-REPORT: no report {value}"))
            });
        }
        for text in [
            proven.signed_headers.subject.as_deref().unwrap_or_default(),
            c.text.as_str(),
        ] {
            let mut reports: Vec<Report> = Vec::new();
            for id in report_ids_in(text, prefix) {
                if let Some(r) = found(&id)?
                    && !reports.iter().any(|k| k.id == r.id)
                {
                    reports.push(r);
                }
            }
            match reports.len() {
                0 => continue,
                1 => {
                    if let Some(r) = reports.pop() {
                        return Ok(r);
                    }
                }
                n => {
                    return Err(Refusal::Refused(format!(
                        "{n} reports are named ({}): say which with an X-REPORT: line",
                        reports
                            .iter()
                            .map(|r| r.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
        }
        Err(Refusal::Refused(
            "no report is named in the signed content (the encrypted Subject, an X-REPORT: \
             line, or its ID in the text); the outer Subject and In-Reply-To are not signed"
                .into(),
        ))
    }

    /// The change the commands ask for, checked as `reports set` checks it, and
    /// whether and how the text can be relayed.
    fn plan(
        &self,
        report: Report,
        commands: Commands,
        member: &Member,
        answers_researcher: bool,
        now: DateTime<Utc>,
    ) -> Result<Plan, Refusal> {
        let change = self.change_of(&commands)?;
        if !change.is_empty() {
            report
                .clone()
                .apply(&change, &actor(member), now, &self.settings.policy)
                .map_err(|why| Refusal::Refused(format!("the commands were refused: {why}")))?;
        }
        let text = commands::relayable(&commands.rest);
        // A command after the block was meant as one, whoever the text is for.
        commands::stray_command(&text).map_err(Refusal::Refused)?;
        // Text leaves the team only when the maintainer clearly means it to: in a
        // reply to mail that brought the researcher's words, or under X-RELAY: yes.
        // X-NEEDS-INFO: yes is a question for the researcher: relayed, or refused.
        let asks = change.needs_info == Some(true);
        if asks && text.is_empty() {
            return Err(Refusal::Refused(
                "X-NEEDS-INFO: yes needs the question: write it after the command lines                  (it is relayed to the researcher)"
                    .into(),
            ));
        }
        let kept = if commands.internal || commands.relay == Some(false) {
            (!commands.rest.trim().is_empty()).then_some(Kept::Asked)
        } else if text.is_empty() || commands.relay == Some(true) || answers_researcher || asks {
            None
        } else {
            Some(Kept::TeamThread)
        };
        let relay = if kept.is_some() || text.is_empty() {
            None
        } else {
            commands::check_relay(&text, &self.relay_guard(&report, now))
                .map_err(Refusal::Refused)?;
            let key = outbox::answer_cert(&self.store, &self.keyring, &report)?;
            if let Some(why) = outbox::answer_key_refusal(&self.store, &self.keyring, &report)? {
                return Err(Refusal::Refused(format!(
                    "{}: {why}, so no answer is encrypted to it any more: not relayed. Add \
                     X-INTERNAL: yes to keep it within the team, and ask the researcher for \
                     a signed follow-up with their new key.",
                    report.id
                )));
            }
            if key.is_none() && report.data.encrypted {
                return Err(Refusal::Refused(format!(
                    "{} came encrypted but proved no key that can receive encrypted mail, so \
                     the answer would go to the researcher in clear text: not relayed. Add \
                     X-INTERNAL: yes to keep it within the team, or ask the researcher (in an \
                     answer without details) for a signed follow-up with their key attached{}.",
                    report.id,
                    report
                        .data
                        .unknown_signer
                        .as_deref()
                        .map(|k| format!(" (the report was signed by {k}, which we did not have: that key proves it)"))
                        .unwrap_or_default()
                )));
            }
            Some(key.is_some())
        };
        if change.is_empty() && relay.is_none() && kept.is_none() && !commands.internal {
            return Err(Refusal::Refused(
                "no command and no text to relay: nothing to do".into(),
            ));
        }
        Ok(Plan {
            report,
            change,
            commands,
            text,
            relay,
            kept,
        })
    }

    /// What may not leave the team in an answer about `report`.
    fn relay_guard(&self, report: &Report, now: DateTime<Utc>) -> commands::Guard {
        let mut guard = commands::Guard {
            addresses: self
                .team
                .members()
                .iter()
                .map(|mb| mb.address.clone())
                .collect(),
            fingerprints: self
                .team
                .members()
                .iter()
                .flat_map(|mb| mb.cert.keys().map(|k| k.key().fingerprint().to_hex()))
                .collect(),
            ..commands::Guard::default()
        };
        for text in outbox::notify::team_texts(&self.settings, report, now) {
            guard.add_team_text(&text);
        }
        // The copies of maintainers' answers: their fixed lines.
        guard.add_team_text(TEAM_COPY_FOOTER);
        guard.add_team_text(HOW_TO_WRITE);
        // What the researcher wrote or was sent is theirs already.
        let d = &report.data;
        guard.forget_known_text(&d.body);
        for f in crate::extract::FieldName::ALL {
            if let Some(v) = d.fields.get(f) {
                guard.forget_known_text(&v);
            }
        }
        if let Some(s) = &d.subject {
            guard.forget_known_text(s);
        }
        for c in &report.correspondence {
            guard.forget_known_text(&c.body);
        }
        guard
    }

    /// The commands as a [`Change`], each value checked as `reports set` checks it;
    /// every refused value is named at once.
    fn change_of(&self, commands: &Commands) -> Result<Change, Refusal> {
        let (change, errors) = self.checked_change(commands)?;
        if errors.is_empty() {
            Ok(change)
        } else {
            Err(Refusal::Refused(refused_lines(&errors)))
        }
    }

    /// Why the values of `commands` would be refused, one line each.
    fn change_errors(&self, commands: &Commands) -> Result<Vec<String>, Refusal> {
        Ok(self.checked_change(commands)?.1)
    }

    /// The change the commands ask for, and each value that is refused, with the
    /// keyword that fixes it.
    fn checked_change(&self, commands: &Commands) -> Result<(Change, Vec<String>), Refusal> {
        let mut errors = Vec::new();
        let mut bad = |line: usize, why: String| errors.push(format!("line {line}: {why}"));
        let mut change = Change::default();
        let duplicate_of = match commands.value(Keyword::DuplicateOf) {
            Some((line, v)) => {
                let found = ReportId::parse(v)
                    .map(|id| self.store.report(&id))
                    .transpose()?
                    .flatten()
                    .map(|r| r.id);
                if found.is_none() {
                    bad(line, format!("X-DUPLICATE-OF: no report {v}"));
                }
                found
            }
            None => None,
        };
        change.reason = match (commands.value(Keyword::Reason), duplicate_of) {
            (Some((line, name)), dup) => match RejectReason::parse(name, dup) {
                Ok(r) => Some(r),
                Err(e) => {
                    bad(line, format!("X-REASON: {e}"));
                    None
                }
            },
            (None, Some(_)) => {
                let line = commands.value(Keyword::DuplicateOf).map_or(0, |(l, _)| l);
                bad(
                    line,
                    "X-DUPLICATE-OF goes with X-REASON: duplicate (add that line)".into(),
                );
                None
            }
            (None, None) => None,
        };
        if let Some((line, v)) = commands.value(Keyword::Status) {
            match v.parse::<Status>() {
                Ok(s) => {
                    if s == Status::Rejected && commands.value(Keyword::Reason).is_none() {
                        bad(
                            line,
                            format!(
                                "X-STATUS: rejected needs a reason: add X-REASON: one of {}",
                                RejectReason::NAMES.join(", ")
                            ),
                        );
                    }
                    change.status = Some(s);
                }
                Err(e) => bad(line, format!("X-STATUS: {e}")),
            }
        }
        let status_line = commands.value(Keyword::Status);
        if let Some((line, _)) = commands.value(Keyword::Reason)
            && (status_line.is_none() || change.status.is_some_and(|s| s != Status::Rejected))
        {
            bad(line, "X-REASON goes with X-STATUS: rejected".into());
        }
        if let Some((line, v)) = commands.value(Keyword::Severity) {
            match v.parse::<Severity>() {
                Ok(s) => change.severity = Some(s),
                Err(e) => bad(line, format!("X-SEVERITY: {e}")),
            }
        }
        if let Some((line, v)) = commands.value(Keyword::Cvss) {
            match crate::extract::find_cvss(v) {
                Some(c) => change.cvss = Some(c),
                None => bad(
                    line,
                    format!("X-CVSS: {v:?} is not a valid CVSS 2, 3.x or 4.0 vector"),
                ),
            }
        }
        change.assignee = commands
            .value(Keyword::Assignee)
            .map(|(_, v)| v.to_string());
        change.note = commands.value(Keyword::Note).map(|(_, v)| v.to_string());
        for (line, keyword, value) in &commands.lines {
            if let Keyword::Detail(detail) = keyword {
                match detail.check(value) {
                    Ok(value) => {
                        change.details.insert(*detail, value);
                    }
                    Err(e) => bad(*line, e),
                }
            }
        }
        if let Some((line, name)) = commands.value(Keyword::Assignee) {
            match crate::store::resolve_assignee(&self.settings.maintainers, name) {
                Ok(a) => change.assignee = Some(a),
                Err(e) => bad(line, e),
            }
        }
        change.embargo = embargo_command(commands, &mut bad);
        if let Some((line, v)) = commands.value(Keyword::NeedsInfo) {
            match v.to_ascii_lowercase().as_str() {
                "yes" => {
                    change.needs_info = Some(true);
                    if commands.internal || commands.relay == Some(false) {
                        bad(
                            line,
                            "X-NEEDS-INFO: yes relays your question to the researcher: drop X-INTERNAL / X-RELAY: no".into(),
                        );
                    }
                }
                "no" => change.needs_info = Some(false),
                _ => bad(line, format!("X-NEEDS-INFO takes yes or no, not {v:?}")),
            }
        }
        Ok((change, errors))
    }

    /// Applies the change, records the answer and queues its mail, in one
    /// transaction that also marks the signature as used; then records the message
    /// itself so that its copies are duplicates.
    fn commit(
        &self,
        m: &Message<'_>,
        member: &Member,
        plan: Plan,
        digests: &[String],
    ) -> Result<Outcome, Refusal> {
        let now = m.now;
        let actor = actor(member);
        let id = plan.report.id.clone();
        let to = plan.report.reporter_address().to_string();
        let relay_id = plan
            .relay
            .map(|_| outbox::new_message_id(&self.settings, "reply"));
        let relay_entry = match (plan.relay, &relay_id) {
            (Some(encrypted), Some(mid)) => {
                Some(self.relay_entry(member, &plan.text, &to, mid, encrypted, now))
            }
            _ => None,
        };
        let status_id = outbox::new_message_id(&self.settings, "status");
        let embargo_id = outbox::new_message_id(&self.settings, "embargo");
        let answer = self.answer_key_before(&id)?;
        let explained = format!("{}\n\n{}", plan.text, self.signature_line(member));
        let result = self.store.modify_report_signed(&id, digests, now, |r| {
            let before = r.status;
            let assigned_before = r.triage.assignee.clone();
            let events_before = r.events.len();
            if !plan.change.is_empty() {
                r.apply(&plan.change, &actor, now, &self.settings.policy)?;
            }
            let mut jobs = Vec::new();
            jobs.extend(self.embargo_notice(r, events_before, &answer, &embargo_id, &actor, now));
            jobs.extend(crate::store::assignment_notice(
                &self.settings.maintainers,
                assigned_before.as_deref(),
                r,
                &actor,
                now,
            ));
            // The text relayed with a state change is the status mail's explanation:
            // one mail to the researcher, not two.
            let mut relay_now = relay_entry.clone();
            if r.status != before {
                let explanation = relay_now.as_ref().map(|_| explained.as_str());
                let ask = StatusAsk {
                    actor: &actor,
                    quiet: (plan.commands.notify == Some(false)).then_some("X-NOTIFY: no"),
                    explanation,
                };
                if let Ok(job) = self.status_notice(r, &answer, &status_id, &ask, now) {
                    jobs.push(job);
                    if relay_now.take().is_some() {
                        r.events.push(Event::new(
                            now,
                            &actor,
                            "reply",
                            Some(format!(
                                "relayed by mail in the status mail, Message-ID {status_id}"
                            )),
                        ));
                    }
                }
            }
            if let (Some(entry), Some(mid)) = (&relay_now, &relay_id) {
                r.correspondence.push(entry.clone());
                r.events.push(Event::new(
                    now,
                    &actor,
                    "reply",
                    Some(format!("relayed by mail, Message-ID {mid}")),
                ));
                jobs.push(NewJob {
                    message_id: Some(mid.clone()),
                    ..NewJob::new(JobKind::Reply, &to, now)
                });
            }
            if plan.kept.is_some() {
                r.events.push(Event::new(
                    now,
                    &actor,
                    "internal",
                    Some(plan.commands.rest.clone()),
                ));
            }
            let relayed = relay_now.as_ref().or_else(|| {
                relay_entry.as_ref().and_then(|_| {
                    r.correspondence
                        .iter()
                        .rev()
                        .find(|c| c.message_id.as_deref() == Some(status_id.as_str()))
                })
            });
            let copy = team_copy(r, member, &plan, relayed);
            jobs.extend(self.to_maintainers(copy, now));
            Ok(jobs)
        });
        match result {
            Ok(report) => {
                info!(report = %report.id, maintainer = %member.name, "maintainer mail taken");
                let reason = format!("{TAKEN_PREFIX}{} taken for {}", member.address, report.id);
                self.record(m, IntakeKind::Skipped, reason, None)
                    .map_err(Refusal::Failed)
            }
            Err(StoreError::Refused(why)) => Err(Refusal::Refused(why)),
            Err(e) => Err(e.into()),
        }
    }

    /// The outgoing correspondence entry of a relayed answer: from the gateway,
    /// ending with the configured signature line; the maintainer's address and key
    /// appear nowhere in what the researcher gets.
    fn relay_entry(
        &self,
        member: &Member,
        text: &str,
        to: &str,
        message_id: &str,
        encrypted: bool,
        now: DateTime<Utc>,
    ) -> Correspondence {
        let line = self.signature_line(member);
        let body = if line.is_empty() {
            format!("{}\n", text.replace("\r\n", "\n"))
        } else {
            format!("{}\n\n-- \n{line}\n", text.replace("\r\n", "\n"))
        };
        Correspondence {
            body,
            actor: Some(actor(member)),
            ..self.gateway_entry(to, message_id, encrypted, now)
        }
    }

    /// A message the gateway sends to a researcher, as its report's correspondence
    /// records it: from the gateway's address, signed with its key, no subject, body or
    /// author yet (the caller sets them).
    pub(super) fn gateway_entry(
        &self,
        to: &str,
        message_id: &str,
        encrypted: bool,
        now: DateTime<Utc>,
    ) -> Correspondence {
        Correspondence {
            direction: Direction::Out,
            at: now,
            from: self.settings.gateway.address.clone(),
            to: to.to_string(),
            message_id: Some(message_id.to_string()),
            subject: None,
            body: String::new(),
            encrypted,
            signature: SignatureStatus::Good,
            signer_fingerprint: self
                .keyring
                .signing_cert()
                .map(|c| c.fingerprint().to_hex()),
            attachments: Vec::new(),
            actor: None,
        }
    }

    /// The line a relayed answer ends with (`maintainers_mail.signature`).
    fn signature_line(&self, member: &Member) -> String {
        self.settings
            .maintainers_mail
            .signature
            .replace("{name}", &member.name)
            .replace("{team}", &self.settings.gateway.name)
    }

    /// The key answers to report `id` can be encrypted to, as it stands now: looked up
    /// before a transaction changes the report, because the look-up reads the store
    /// (learnt keys) and a read inside the transaction's closure would wait for ever.
    pub(crate) fn answer_key_before(&self, id: &ReportId) -> Result<AnswerKey, StoreError> {
        let Some(report) = self.store.report(id)? else {
            return Ok(AnswerKey(None));
        };
        Ok(AnswerKey(
            outbox::answer_cert(&self.store, &self.keyring, &report)?
                .map(|c| c.fingerprint().to_hex()),
        ))
    }

    /// The researcher's mail on a state change listed in `notify.reporter_on`,
    /// recorded as outgoing correspondence, with an event saying whether the
    /// researcher was told and, if not, why: a maintainer asked for quiet, a report
    /// rejected as spam (never answered), a state not in `notify.reporter_on`, or a
    /// report that came encrypted and could only be answered in clear. `answer` comes
    /// from [`Self::answer_key_before`]: this runs inside the store's transaction and
    /// must not read the store. `Err` is why the researcher was not told.
    pub(crate) fn status_notice(
        &self,
        r: &mut Report,
        answer: &AnswerKey,
        message_id: &str,
        ask: &StatusAsk<'_>,
        now: DateTime<Utc>,
    ) -> Result<NewJob, String> {
        let told = self.status_mail(r, answer, message_id, ask, now);
        let (action, note) = match &told {
            Ok(_) => (
                "researcher_told",
                format!("status mail, Message-ID <{message_id}>"),
            ),
            Err(why) => ("researcher_not_told", why.clone()),
        };
        r.events
            .push(Event::new(now, ask.actor, action, Some(note)));
        told
    }

    fn status_mail(
        &self,
        r: &mut Report,
        answer: &AnswerKey,
        message_id: &str,
        ask: &StatusAsk<'_>,
        now: DateTime<Utc>,
    ) -> Result<NewJob, String> {
        if let Some(why) = ask.quiet {
            return Err(format!("{why} asked for no status mail"));
        }
        if r.status == Status::Rejected
            && matches!(r.triage.reject_reason, Some(RejectReason::Spam))
        {
            return Err("rejected as spam, which is never answered".into());
        }
        if !self
            .settings
            .notify
            .reporter_on
            .iter()
            .any(|s| s == r.status.as_str())
        {
            return Err(format!(
                "notify.reporter_on does not list {}",
                r.status.as_str()
            ));
        }
        let encrypted = answer.encrypts_to(r);
        if !encrypted && r.data.encrypted {
            return Err(
                "the report came encrypted and proved no key that can receive \
                        encrypted mail, so the status mail would go in clear"
                    .into(),
            );
        }
        let reason = match (&r.status, &r.triage.reject_reason) {
            (Status::Rejected, Some(why)) => format!(" (reason: {why})"),
            _ => String::new(),
        };
        let explanation = ask
            .explanation
            .map(|t| format!("\n{}\n", t.trim_end().replace("\r\n", "\n")))
            .unwrap_or_default();
        // As the acknowledgement: the report's own clocks only when it proved its
        // sender and the answer reaches that key (or the report came in clear).
        let may_quote = r.proven_key().is_some() && (encrypted || !r.data.encrypted);
        let body = format!(
            "The status of your report {id} is now: {status}{reason}.\n{explanation}\n{clocks}\n\
             {follow_up}-- \n{team}\n",
            id = r.id,
            status = r.status.as_str(),
            clocks = outbox::clocks_text(&self.settings, r, may_quote, now),
            follow_up = outbox::follow_up_text(r),
            team = self.settings.gateway.name,
        );
        let entry = self.gateway_entry(r.reporter_address(), message_id, encrypted, now);
        r.correspondence.push(Correspondence {
            subject: Some(outbox::status_subject(&r.id, r.status)),
            body,
            // A status mail is the gateway's own words unless it carries a maintainer's.
            actor: Some(
                if ask.explanation.is_some() {
                    ask.actor
                } else {
                    "system"
                }
                .to_string(),
            ),
            ..entry
        });
        let to = r.reporter_address().to_string();
        Ok(NewJob {
            message_id: Some(message_id.to_string()),
            ..NewJob::new(JobKind::Reply, &to, now)
        })
    }
}

/// How a state change is told to the researcher: who changed it (the event's actor,
/// and the status mail's when it carries their words), whether they asked for quiet
/// (`--no-notify`, `X-NOTIFY: no`: named in the event), and their explanation.
pub(crate) struct StatusAsk<'a> {
    pub(crate) actor: &'a str,
    pub(crate) quiet: Option<&'a str>,
    pub(crate) explanation: Option<&'a str>,
}

/// The embargo command of a maintainer's mail (`X-EMBARGO:`, `X-EMBARGO-REVISE:`,
/// `X-EMBARGO-EXIT:`; one at a time), its value checked as `reports set` checks it.
fn embargo_command(
    commands: &Commands,
    bad: &mut impl FnMut(usize, String),
) -> Option<crate::store::EmbargoChange> {
    use crate::store::EmbargoChange;
    let given: Vec<(usize, Keyword, &str)> = [
        Keyword::Embargo,
        Keyword::EmbargoRevise,
        Keyword::EmbargoExit,
    ]
    .into_iter()
    .filter_map(|k| commands.value(k).map(|(line, v)| (line, k, v)))
    .collect();
    match given.as_slice() {
        [] => None,
        [(line, keyword, value)] => {
            let parsed = match keyword {
                Keyword::Embargo => EmbargoChange::parse_set(value),
                Keyword::EmbargoRevise => {
                    crate::policy::ZonedInstant::parse(value).map(EmbargoChange::Revise)
                }
                _ => value.parse().map(EmbargoChange::Exit),
            };
            let name = match keyword {
                Keyword::Embargo => "X-EMBARGO",
                Keyword::EmbargoRevise => "X-EMBARGO-REVISE",
                _ => "X-EMBARGO-EXIT",
            };
            parsed.map_err(|e| bad(*line, format!("{name}: {e}"))).ok()
        }
        [.., (line, _, _)] => {
            bad(
                *line,
                "X-EMBARGO, X-EMBARGO-REVISE and X-EMBARGO-EXIT go one at a time: keep one".into(),
            );
            None
        }
    }
}

/// The refusal of several command lines, one per line.
fn refused_lines(errors: &[String]) -> String {
    match errors {
        [one] => one.clone(),
        many => format!(
            "{} command lines were refused (nothing was applied):\n  {}",
            many.len(),
            many.join("\n  ")
        ),
    }
}

/// How the intake record of a maintainer's mail that was taken begins: it is listed
/// as "taken" (an action on a report), not as a skipped message.
const TAKEN_PREFIX: &str = "maintainer mail by ";

/// Whether an intake record's reason is that of a maintainer's mail that was taken.
pub(crate) fn is_taken_reason(reason: &str) -> bool {
    reason.starts_with(TAKEN_PREFIX) && reason.contains(" taken for ")
}

/// The fingerprint of the certificate answers to a report can be encrypted to,
/// decided before the transaction that changes it (see
/// [`Pipeline::answer_key_before`]).
pub(crate) struct AnswerKey(Option<String>);

impl AnswerKey {
    /// Whether an answer to `r` goes encrypted: only to the key looked up before, and
    /// only while it is still the one the report names (a report changed by another
    /// writer in between is answered as if no key were known, never to another key).
    pub(super) fn encrypts_to(&self, r: &Report) -> bool {
        self.0.is_some() && self.0.as_deref() == r.answer_key()
    }
}

/// How a maintainer writes to the researcher, in every answer that did not.
const HOW_TO_WRITE: &str = "To write to the reporter, answer the new-report notification or a \
     reporter follow-up notice, or put X-RELAY: yes among the command lines; the text after \
     the commands, without quoted lines and your signature, is relayed.";

/// The last line of every team copy: answering it is talking to the team.
const TEAM_COPY_FOOTER: &str = "Replies to this mail stay in the team.";

/// The tag in the Message-IDs of reporter follow-up notices: a reply to one answers
/// the reporter.
pub(super) const FOLLOWUP_TAG: &str = "disclosured.followup.";

/// Who acted, in the report's events.
fn actor(member: &Member) -> String {
    format!("mail:{}", member.address)
}

/// The copy of a maintainer's answer every maintainer gets: what was applied, the
/// note, and the text as relayed (or kept within the team).
fn team_copy(
    r: &Report,
    member: &Member,
    plan: &Plan,
    relayed: Option<&Correspondence>,
) -> JobKind {
    let mut applied: Vec<String> = Vec::new();
    for (_, k, v) in &plan.commands.lines {
        let name = commands::Keyword::ALL
            .iter()
            .find(|(_, kw)| kw == k)
            .map_or("?", |(n, _)| *n);
        applied.push(format!("  {name}: {v}"));
    }
    let what = match (relayed, plan.kept) {
        (Some(e), _) => format!(
            "Relayed to the reporter ({}):\n\n{}",
            if e.encrypted {
                "encrypted to their key"
            } else {
                "in clear: the report proved no key"
            },
            quote(&e.body)
        ),
        (None, Some(Kept::Asked)) => format!(
            "Internal (X-INTERNAL or X-RELAY: no), not relayed:\n\n{}",
            quote(&plan.commands.rest)
        ),
        (None, Some(Kept::TeamThread)) => format!(
            "Kept in the team, not relayed: the message answers no mail that carried the \
             reporter's words (a team copy, an escalation, the digest, or nothing).\n\
             {HOW_TO_WRITE}\n\n{}",
            quote(&plan.commands.rest)
        ),
        (None, None) => "Nothing relayed.\n".to_string(),
    };
    let text = format!(
        "{name} <{address}> wrote about {id} (now {status}).\n\n{commands}\n{what}\n\
         {TEAM_COPY_FOOTER}\n-- \ndisclosured reports show {id}\n",
        name = member.name,
        address = member.address,
        id = r.id,
        status = r.status.as_str(),
        commands = if applied.is_empty() {
            "No commands.\n".to_string()
        } else {
            format!("Commands applied:\n{}\n", applied.join("\n"))
        },
    );
    JobKind::TeamNotice {
        text,
        subject: format!("[{}] Maintainer answer", r.id),
        in_reply_to: None,
        references: Vec::new(),
    }
}

fn quote(text: &str) -> String {
    text.lines().map(|l| format!("  | {l}\n")).collect()
}

/// The first text part (the first HTML part rendered, when there is no text).
fn first_text(opened: &crypto::Opened) -> String {
    let text = opened.body.iter().find_map(|b| match b {
        crypto::open::Body::Text(t) if !t.trim().is_empty() => Some(t.clone()),
        _ => None,
    });
    text.or_else(|| {
        opened.body.iter().find_map(|b| match b {
            crypto::open::Body::Html(h) => Some(crate::extract::html_to_text(h)),
            crypto::open::Body::Text(_) => None,
        })
    })
    .unwrap_or_default()
}

/// The report IDs (`PREFIX-YYYY-NNNN`, any case of the prefix) in a text.
fn report_ids_in(text: &str, prefix: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| {
            w.len() <= 40
                && w.get(..prefix.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
                && ReportId::parse_numbers(w).is_some()
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn report_ids_are_found_in_text() {
        assert_eq!(
            report_ids_in("Re: [VR-2026-0001] thanks (see vr-2026-0002).", "VR"),
            vec!["VR-2026-0001", "vr-2026-0002"]
        );
        assert!(report_ids_in("VRX-2026 VR-abc-1", "VR").is_empty());
    }
}
