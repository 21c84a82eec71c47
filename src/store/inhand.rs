//! Messages and delivery jobs in hand, so that one that stops the daemon stops it at
//! most twice (issue 21).
//!
//! Two records of the same thing:
//!
//! - [`Handling`], in memory: what is being decided or sent at this moment, since
//!   when. The watchdog reads it to name a message or job that has been in hand longer
//!   than the stall limit (in the log, `status` and `doctor`).
//! - The `in_hand` tree, durable: what was taken in hand (written and flushed before
//!   the work starts), whether the watchdog saw it stall, and the stops it caused.
//!   The second stop quarantines the message (parks the job).
//!
//! A stop is counted in one of two ways, never both for one death:
//!
//! - By the next start ([`Store::settle_previous_run`]): an entry the watchdog saw
//!   stalled is a stop of the daemon by that message or job.
//! - By `note-stop`, systemd's `ExecStopPost=` command, when systemd says the process
//!   crashed (a core dump, a fatal signal such as SIGSEGV or SIGABRT, the watchdog,
//!   the OOM killer) ([`Store::note_crash`]): what the watchdog saw stalled is blamed
//!   when there is any; otherwise everything in hand is, since an abort leaves no
//!   trace of which of them caused it. Those then go alone, one at a time, so a
//!   second crash names the culprit only.
//!
//! Nothing else counts. A process killed from outside (SIGKILL, SIGTERM, a power
//! cut) dies with a batch of innocent messages in hand, and from inside nothing tells
//! those deaths apart from an abort: counting them quarantined sound mail under the
//! crash test's kills. Such entries are simply taken again.
//!
//! Nothing here is read inside a transaction; every write is a plain insert.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, decode, encode};

/// `m:<name>` or `j:<job id>` → [`Held`].
const TREE_IN_HAND: &str = "in_hand";

/// How many stops quarantine a message or park a job.
pub(super) const STOPS_TO_SET_ASIDE: usize = 2;

/// What is in hand: a message of the inbox or a job of the delivery queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeldKind {
    Message,
    Job,
}

impl HeldKind {
    fn prefix(self) -> &'static str {
        match self {
            HeldKind::Message => "m:",
            HeldKind::Job => "j:",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            HeldKind::Message => "message",
            HeldKind::Job => "job",
        }
    }
}

fn key(kind: HeldKind, name: &str) -> Vec<u8> {
    format!("{}{name}", kind.prefix()).into_bytes()
}

/// One stop of the daemon while this message or job was in hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stop {
    /// When the watchdog saw it in hand past the stall limit, or when the crash was
    /// noted.
    pub at: DateTime<Utc>,
    /// The process that stopped.
    pub pid: u32,
    /// How the process ended, as systemd told `note-stop` ("killed by signal
    /// SEGV"); `None` for a stall seen by the watchdog and counted at the next start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub how: Option<String>,
    /// Whether the watchdog had seen it in hand past the stall limit before that
    /// crash.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stalled: bool,
}

impl Stop {
    /// "in hand past the stall limit …" or "the daemon crashed (…)", with the time.
    fn describe(&self) -> String {
        let at = self.at.format("%Y-%m-%d %H:%M:%S UTC");
        match (&self.how, self.stalled) {
            (None, _) => format!("in hand past the stall limit when it was restarted ({at})"),
            (Some(how), true) => format!("in hand past the stall limit, then {how} ({at})"),
            (Some(how), false) => format!("in hand when the daemon crashed: {how} ({at})"),
        }
    }
}

/// The durable record of a message or job taken in hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    pub kind: HeldKind,
    /// The Maildir file's unique part, `imap:<uid>`, or the job's number.
    pub name: String,
    /// When it was last taken in hand.
    pub since: DateTime<Utc>,
    /// The process that holds it; `None` once a restart settled it.
    pub pid: Option<u32>,
    /// When the watchdog saw it in hand past the stall limit, in this hold.
    pub stalled_at: Option<DateTime<Utc>>,
    /// The stops of the daemon it caused, oldest first.
    pub stops: Vec<Stop>,
}

impl Held {
    /// Whether it stopped the daemon often enough to be set aside.
    pub fn set_aside(&self) -> bool {
        self.stops.len() >= STOPS_TO_SET_ASIDE
    }

    /// The reason recorded when it is set aside: "stopped the daemon twice", how and
    /// when.
    pub fn reason(&self) -> String {
        let stops: Vec<String> = self.stops.iter().map(Stop::describe).collect();
        format!(
            "stopped the daemon twice: {}; retry it after an upgrade",
            stops.join("; ")
        )
    }
}

impl Store {
    /// Takes messages or jobs in hand: recorded and flushed before the work starts,
    /// keeping the stops each one caused before.
    pub fn hold(&self, kind: HeldKind, names: &[String]) -> Result<(), StoreError> {
        if names.is_empty() {
            return Ok(());
        }
        let tree = self.db.open_tree(TREE_IN_HAND)?;
        let now = Utc::now();
        let pid = std::process::id();
        for name in names {
            let k = key(kind, name);
            let stops = match tree.get(&k)? {
                Some(v) => decode::<Held>(&v).map(|h| h.stops).unwrap_or_default(),
                None => Vec::new(),
            };
            let held = Held {
                kind,
                name: name.clone(),
                since: now,
                pid: Some(pid),
                stalled_at: None,
                stops,
            };
            tree.insert(k, encode(&held)?)?;
        }
        self.flush()
    }

    /// Lets go of messages or jobs whose work ended (whatever its outcome): the stops
    /// they caused are forgotten, since they went through. Not flushed: an entry that
    /// outlives a crash is taken again and let go again.
    pub fn let_go(&self, kind: HeldKind, names: &[String]) -> Result<(), StoreError> {
        let tree = self.db.open_tree(TREE_IN_HAND)?;
        for name in names {
            tree.remove(key(kind, name))?;
        }
        Ok(())
    }

    /// The record of a message or job, if it is or was in hand.
    pub fn held(&self, kind: HeldKind, name: &str) -> Result<Option<Held>, StoreError> {
        let tree = self.db.open_tree(TREE_IN_HAND)?;
        tree.get(key(kind, name))?.map(|v| decode(&v)).transpose()
    }

    /// Every record, messages first.
    pub fn held_all(&self) -> Result<Vec<Held>, StoreError> {
        let tree = self.db.open_tree(TREE_IN_HAND)?;
        tree.iter()?
            .values()
            .map(|v| decode(&v?))
            .collect::<Result<Vec<Held>, StoreError>>()
    }

    /// Notes that the watchdog saw these in hand past the stall limit; flushed, since
    /// the process may be killed for it at any moment.
    pub fn mark_stalled(&self, kind: HeldKind, names: &[String]) -> Result<(), StoreError> {
        let tree = self.db.open_tree(TREE_IN_HAND)?;
        let now = Utc::now();
        let pid = std::process::id();
        for name in names {
            let k = key(kind, name);
            let mut held = match tree.get(&k)? {
                Some(v) => decode::<Held>(&v)?,
                // Taken in hand without a durable hold (it cannot happen through the
                // drivers, but the stall is what matters).
                None => Held {
                    kind,
                    name: name.clone(),
                    since: now,
                    pid: Some(pid),
                    stalled_at: None,
                    stops: Vec::new(),
                },
            };
            if held.stalled_at.is_none() {
                held.stalled_at = Some(now);
                tree.insert(k, encode(&held)?)?;
            }
        }
        self.flush()
    }

    /// After a crash of the daemon (`note-stop`, run by systemd once the process is
    /// gone): a stop for what the dead process had in hand, described by `how`. What
    /// the watchdog saw stalled is blamed when there is any, else everything in hand.
    /// The entries are settled here (the next start does not count them again).
    /// Returns the entries that gained a stop.
    pub fn note_crash(&self, how: &str) -> Result<Vec<Held>, StoreError> {
        let tree = self.db.open_tree(TREE_IN_HAND)?;
        let now = Utc::now();
        let mut left = Vec::new();
        for item in tree.iter()? {
            let (k, v) = item?;
            match decode::<Held>(&v) {
                Ok(held) if held.pid.is_some() => left.push((k, held)),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "an in-hand record does not decode; skipped"),
            }
        }
        let any_stalled = left.iter().any(|(_, h)| h.stalled_at.is_some());
        let mut stopped = Vec::new();
        for (k, mut held) in left {
            let blamed = !any_stalled || held.stalled_at.is_some();
            if blamed {
                held.stops.push(Stop {
                    at: held.stalled_at.unwrap_or(now),
                    pid: held.pid.unwrap_or_default(),
                    how: Some(how.to_string()),
                    stalled: held.stalled_at.is_some(),
                });
            }
            held.pid = None;
            held.stalled_at = None;
            if held.stops.is_empty() {
                tree.remove(&k)?;
            } else {
                tree.insert(&k, encode(&held)?)?;
            }
            if blamed {
                stopped.push(held);
            }
        }
        self.flush()?;
        Ok(stopped)
    }

    /// At start: what a process that is gone left in hand. An entry the watchdog saw
    /// stalled gains a stop; any other is forgotten unless it stopped the daemon
    /// before. Returns the entries that gained a stop now.
    pub fn settle_previous_run(&self) -> Result<Vec<Held>, StoreError> {
        let tree = self.db.open_tree(TREE_IN_HAND)?;
        let me = std::process::id();
        let mut stopped = Vec::new();
        for item in tree.iter()? {
            let (k, v) = item?;
            let mut held: Held = match decode(&v) {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(error = %e, "an in-hand record does not decode; dropped");
                    tree.remove(&k)?;
                    continue;
                }
            };
            if held.pid.is_none() || held.pid == Some(me) {
                continue;
            }
            match held.stalled_at {
                Some(at) => {
                    held.stops.push(Stop {
                        at,
                        pid: held.pid.unwrap_or_default(),
                        how: None,
                        stalled: true,
                    });
                    held.pid = None;
                    held.stalled_at = None;
                    tree.insert(&k, encode(&held)?)?;
                    stopped.push(held);
                }
                None if held.stops.is_empty() => {
                    tree.remove(&k)?;
                }
                None => {
                    held.pid = None;
                    tree.insert(&k, encode(&held)?)?;
                }
            }
        }
        self.flush()?;
        Ok(stopped)
    }
}

/// What is being decided or sent at this moment, in memory; see the module's
/// documentation.
#[derive(Debug, Default)]
pub struct Handling {
    now: Mutex<BTreeMap<(HeldKind, String), DateTime<Utc>>>,
}

/// One message or job in hand; let go of when dropped (a panic included).
#[derive(Debug)]
pub struct Handle<'a> {
    handling: &'a Handling,
    key: (HeldKind, String),
}

impl Drop for Handle<'_> {
    fn drop(&mut self) {
        self.handling.map().remove(&self.key);
    }
}

/// A message or job in hand longer than asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Overdue {
    pub kind: HeldKind,
    pub name: String,
    pub since: DateTime<Utc>,
    pub seconds: u64,
}

impl Handling {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<(HeldKind, String), DateTime<Utc>>> {
        self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes that the work on a message or job starts now.
    pub fn start(&self, kind: HeldKind, name: &str) -> Handle<'_> {
        let key = (kind, name.to_string());
        self.map().insert(key.clone(), Utc::now());
        Handle {
            handling: self,
            key,
        }
    }

    /// What has been in hand longer than `limit`, longest first.
    pub fn longer_than(&self, limit: Duration) -> Vec<Overdue> {
        let now = Utc::now();
        let mut out: Vec<Overdue> = self
            .map()
            .iter()
            .filter_map(|((kind, name), since)| {
                let age = now - *since;
                (age >= chrono_limit(limit)).then(|| Overdue {
                    kind: *kind,
                    name: name.clone(),
                    since: *since,
                    seconds: u64::try_from(age.num_seconds()).unwrap_or(0),
                })
            })
            .collect();
        out.sort_by_key(|o| o.since);
        out
    }
}

fn chrono_limit(limit: Duration) -> chrono::Duration {
    chrono::Duration::from_std(limit).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    /// An entry left by another (dead) process: what a restart finds.
    fn as_if_from_dead_process(store: &Store, kind: HeldKind, name: &str) {
        let tree = store.db.open_tree(TREE_IN_HAND).unwrap();
        let k = key(kind, name);
        let mut h: Held = decode(&tree.get(&k).unwrap().unwrap()).unwrap();
        h.pid = Some(u32::MAX);
        tree.insert(k, encode(&h).unwrap()).unwrap();
    }

    #[test]
    fn only_a_stall_the_watchdog_saw_counts_and_the_second_sets_aside() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &crate::store::StoreKey::for_tests(1)).unwrap();
        store
            .hold(HeldKind::Message, &names(&["a", "b", "c"]))
            .unwrap();
        store
            .mark_stalled(HeldKind::Message, &names(&["b"]))
            .unwrap();
        for n in ["a", "b", "c"] {
            as_if_from_dead_process(&store, HeldKind::Message, n);
        }
        let stopped = store.settle_previous_run().unwrap();
        assert_eq!(stopped.len(), 1);
        assert_eq!(stopped[0].name, "b");
        // A killed process's innocent batch is forgotten.
        assert_eq!(store.held(HeldKind::Message, "a").unwrap(), None);
        let b = store.held(HeldKind::Message, "b").unwrap().unwrap();
        assert_eq!((b.stops.len(), b.set_aside(), b.pid), (1, false, None));

        // Taken again, stalls again, the process dies again: set aside.
        store.hold(HeldKind::Message, &names(&["b"])).unwrap();
        assert_eq!(
            store
                .held(HeldKind::Message, "b")
                .unwrap()
                .unwrap()
                .stops
                .len(),
            1
        );
        store
            .mark_stalled(HeldKind::Message, &names(&["b"]))
            .unwrap();
        as_if_from_dead_process(&store, HeldKind::Message, "b");
        store.settle_previous_run().unwrap();
        let b = store.held(HeldKind::Message, "b").unwrap().unwrap();
        assert!(b.set_aside());
        assert!(
            b.reason().starts_with("stopped the daemon twice"),
            "{}",
            b.reason()
        );

        // Letting go forgets it; a job of the same name is another entry.
        store.hold(HeldKind::Job, &names(&["b"])).unwrap();
        store.let_go(HeldKind::Message, &names(&["b"])).unwrap();
        assert_eq!(store.held(HeldKind::Message, "b").unwrap(), None);
        assert!(store.held(HeldKind::Job, "b").unwrap().is_some());
    }

    /// An abort: everything in hand gains a stop, once (the next start adds none),
    /// and is taken again; a second crash with one of them alone in hand sets it
    /// aside with both deaths in its reason.
    #[test]
    fn a_crash_blames_everything_in_hand_once_and_the_second_sets_aside() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &crate::store::StoreKey::for_tests(1)).unwrap();
        store.hold(HeldKind::Message, &names(&["a", "b"])).unwrap();
        store.hold(HeldKind::Job, &names(&["9"])).unwrap();
        for (kind, n) in [
            (HeldKind::Message, "a"),
            (HeldKind::Message, "b"),
            (HeldKind::Job, "9"),
        ] {
            as_if_from_dead_process(&store, kind, n);
        }
        let stopped = store
            .note_crash("killed by signal ABRT (core dumped)")
            .unwrap();
        assert_eq!(stopped.len(), 3);
        assert!(
            store.settle_previous_run().unwrap().is_empty(),
            "counted once"
        );
        for (kind, n) in [(HeldKind::Message, "a"), (HeldKind::Job, "9")] {
            let h = store.held(kind, n).unwrap().unwrap();
            assert_eq!((h.stops.len(), h.pid, h.set_aside()), (1, None, false));
        }
        // "a" goes through alone: forgotten. "b" crashes the daemon again alone.
        store.hold(HeldKind::Message, &names(&["a"])).unwrap();
        store.let_go(HeldKind::Message, &names(&["a"])).unwrap();
        store.hold(HeldKind::Message, &names(&["b"])).unwrap();
        as_if_from_dead_process(&store, HeldKind::Message, "b");
        let stopped = store.note_crash("killed by signal SEGV").unwrap();
        assert_eq!(stopped.len(), 1);
        assert_eq!(store.held(HeldKind::Message, "a").unwrap(), None);
        let b = store.held(HeldKind::Message, "b").unwrap().unwrap();
        assert!(b.set_aside());
        let reason = b.reason();
        assert!(reason.starts_with("stopped the daemon twice: in hand when the daemon crashed: killed by signal ABRT (core dumped)"), "{reason}");
        assert!(
            reason.contains("; in hand when the daemon crashed: killed by signal SEGV ("),
            "{reason}"
        );
        // The job with one stop is untouched by the second crash (not in hand).
        assert_eq!(
            store.held(HeldKind::Job, "9").unwrap().unwrap().stops.len(),
            1
        );
    }

    /// The watchdog's kill after a stall it named blames the stalled one only: the
    /// rest of its batch, innocent, is simply taken again.
    #[test]
    fn a_crash_after_a_named_stall_blames_the_stalled_one_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &crate::store::StoreKey::for_tests(1)).unwrap();
        store.hold(HeldKind::Job, &names(&["1", "2", "3"])).unwrap();
        store.mark_stalled(HeldKind::Job, &names(&["2"])).unwrap();
        for n in ["1", "2", "3"] {
            as_if_from_dead_process(&store, HeldKind::Job, n);
        }
        let stopped = store.note_crash("the watchdog's timeout").unwrap();
        assert_eq!(stopped.len(), 1);
        assert_eq!(stopped[0].name, "2");
        assert_eq!(store.held(HeldKind::Job, "1").unwrap(), None);
        assert_eq!(store.held(HeldKind::Job, "3").unwrap(), None);
        assert!(store.settle_previous_run().unwrap().is_empty());
        let h = store.held(HeldKind::Job, "2").unwrap().unwrap();
        assert_eq!(h.stops.len(), 1);
        assert!(
            h.reason()
                .contains("in hand past the stall limit, then the watchdog's timeout ("),
            "{}",
            h.reason()
        );
    }

    #[test]
    fn a_restart_of_this_process_settles_nothing_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &crate::store::StoreKey::for_tests(1)).unwrap();
        store.hold(HeldKind::Job, &names(&["7"])).unwrap();
        store.mark_stalled(HeldKind::Job, &names(&["7"])).unwrap();
        assert!(store.settle_previous_run().unwrap().is_empty());
        assert!(
            store
                .held(HeldKind::Job, "7")
                .unwrap()
                .unwrap()
                .stops
                .is_empty()
        );
    }

    #[test]
    fn handling_names_what_is_in_hand_too_long_and_forgets_it_when_dropped() {
        let handling = Handling::default();
        let handle = handling.start(HeldKind::Message, "m1");
        assert!(handling.longer_than(Duration::from_secs(60)).is_empty());
        let overdue = handling.longer_than(Duration::ZERO);
        assert_eq!(overdue.len(), 1);
        assert_eq!(
            (overdue[0].kind, overdue[0].name.as_str()),
            (HeldKind::Message, "m1")
        );
        drop(handle);
        assert!(handling.longer_than(Duration::ZERO).is_empty());
    }
}
