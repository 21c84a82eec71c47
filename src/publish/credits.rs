//! The hall of fame: who is thanked by name on the policy page.
//!
//! For now a researcher is named when their report says how to credit them (the
//! extracted `credit_name`) and it is fixed or disclosed. [`credited_researchers`] is
//! the one place that decides it, so that the researcher's own credit choice (issue
//! 26, items 5 to 9) replaces this rule here and nowhere else.

use chrono::{DateTime, Utc};

use crate::store::{Status, Store, StoreError};

/// Longest name shown: a credit is a name or a handle, not a paragraph.
const MAX_NAME_CHARS: usize = 80;

/// One researcher thanked on the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Credit {
    pub name: String,
    /// When their first credited report arrived (the page shows the year only).
    pub since: DateTime<Utc>,
}

/// The researchers to thank, each once, first credited first. Nothing else of a
/// report is shown: not its title, not its address.
pub(crate) fn credited_researchers(store: &Store) -> Result<Vec<Credit>, StoreError> {
    let mut out: Vec<Credit> = Vec::new();
    for report in store.report_heads()? {
        if !matches!(report.status, Status::Fixed | Status::Disclosed) {
            continue;
        }
        let Some(name) = report.data.fields.credit_name.as_deref() else {
            continue;
        };
        let name = crate::intake::one_line(name, MAX_NAME_CHARS);
        if name.is_empty() {
            continue;
        }
        let since = report.data.received_at;
        match out.iter_mut().find(|c| c.name.eq_ignore_ascii_case(&name)) {
            Some(c) => c.since = c.since.min(since),
            None => out.push(Credit { name, since }),
        }
    }
    out.sort_by(|a, b| a.since.cmp(&b.since).then_with(|| a.name.cmp(&b.name)));
    Ok(out)
}
