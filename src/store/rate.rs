//! Rate state for automatic mail (`notice_times`): when each address last got a
//! notice, and how much was sent recently per mailbox, per domain and in all. A
//! safeguard against backscatter: unreadable state counts as nothing sent.

use chrono::{DateTime, Utc};

use super::{Store, StoreError, decode, encode};

/// Automatic messages sent to one address (or to everyone) recently, counted in
/// buckets of a sixtieth of the rate window: (bucket start, count), oldest first. The
/// record stays small however high the limit (a list of every timestamp grew with
/// the limit and was rewritten whole at every message), at the price of a window
/// that is exact to within a sixtieth of its length (on the strict side).
pub(super) struct SendCounts(pub(super) Vec<(i64, u64)>);

impl SendCounts {
    /// Reads a stored record; the older form, a list of timestamps, becomes one
    /// bucket per timestamp. Anything unreadable counts as no sends: rate state is
    /// a safeguard, never a reason to stop.
    pub(super) fn decode(bytes: Option<&[u8]>) -> SendCounts {
        let Some(bytes) = bytes else {
            return SendCounts(Vec::new());
        };
        if let Ok(counts) = decode::<Vec<(i64, u64)>>(bytes) {
            return SendCounts(counts);
        }
        let times: Vec<i64> = decode(bytes).unwrap_or_default();
        SendCounts(times.into_iter().map(|t| (t, 1)).collect())
    }

    /// Forgets the buckets wholly before `start`; a bucket that straddles it still
    /// counts in full (the limit errs on the strict side).
    pub(super) fn forget_before(&mut self, start: i64, window: i64) {
        let width = Self::width(window);
        self.0.retain(|(at, _)| at.saturating_add(width) > start);
    }

    fn width(window: i64) -> i64 {
        (window / 60).max(1)
    }

    pub(super) fn total(&self) -> u64 {
        self.0.iter().map(|(_, n)| n).sum()
    }

    pub(super) fn add(&mut self, now: i64, window: i64) {
        let width = Self::width(window);
        let bucket = now - now.rem_euclid(width);
        match self.0.last_mut() {
            Some((at, n)) if *at == bucket => *n += 1,
            _ => self.0.push((bucket, 1)),
        }
    }
}

impl Store {
    /// Whether an automatic notice may go to `address` now (at most one per
    /// `window`, RFC 3834 section 2); takes the slot when it may.
    pub fn take_notice_slot(
        &self,
        address: &str,
        now: DateTime<Utc>,
        window: chrono::Duration,
    ) -> Result<bool, StoreError> {
        let _writing = self.writing()?;
        // Per mailbox, not per spelling of it: `Victim+1@` is `victim@`.
        let key = self
            .seal
            .index_key(crate::intake::normalised_address(address).as_bytes());
        let stamp = now.timestamp().to_be_bytes();
        loop {
            let old = self.notices.get(&key)?;
            if let Some(prev) = &old {
                let last = i64::from_be_bytes(<[u8; 8]>::try_from(prev.as_ref()).unwrap_or([0; 8]));
                if now.timestamp().saturating_sub(last) < window.num_seconds() {
                    return Ok(false);
                }
            }
            if self
                .notices
                .compare_and_swap(&key, old, Some(&stamp[..]))?
                .is_ok()
            {
                return Ok(true);
            }
        }
    }

    /// Whether one more automatic message may go to `address` under the rate limits;
    /// takes the slot when it may. Sends older than the window are forgotten (see
    /// [`SendCounts`]).
    pub fn take_send_slot(
        &self,
        address: &str,
        now: DateTime<Utc>,
        limits: &crate::config::RateLimits,
    ) -> Result<bool, StoreError> {
        let _writing = self.writing()?;
        let _guard = self
            .rate_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Counted per mailbox (case-folded, `+tag` removed: every sub-address of
        // one person is one allowance) and per domain, so that neither sub-addresses
        // nor many mailboxes or subdomains of one domain multiply what can be
        // reflected at it.
        let mailbox = crate::intake::normalised_address(address);
        let domain = crate::intake::rate_domain(address);
        let sender_key = format!("rate:{mailbox}");
        let domain_key = format!("rate:@{domain}");
        let global_key = "rate:*".to_string();
        let window = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let checks = [
            (
                sender_key,
                limits.per_sender,
                window(limits.per_sender_window),
            ),
            (
                domain_key,
                limits.per_domain,
                window(limits.per_domain_window),
            ),
            (global_key, limits.global, window(limits.global_window)),
        ];
        let now = now.timestamp();
        let mut recent = Vec::new();
        for (key, max, window) in &checks {
            let key = self.seal.index_key(key.as_bytes());
            let mut counts = SendCounts::decode(self.notices.get(&key)?.as_deref());
            counts.forget_before(now.saturating_sub(*window), *window);
            if counts.total() >= *max {
                return Ok(false);
            }
            recent.push((counts, *window));
        }
        for ((key, _, _), (mut counts, window)) in checks.iter().zip(recent) {
            counts.add(now, window);
            self.notices
                .insert(self.seal.index_key(key.as_bytes()), encode(&counts.0)?)?;
        }
        Ok(true)
    }
}
