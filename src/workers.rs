//! Independent items (messages, outgoing jobs) handled on one thread per core.
//!
//! OpenPGP dominates the cost of a message and messages do not depend on each other;
//! everything they share (report IDs, dedupe, rate limits) is decided inside the
//! store. This owns only the threads: no I/O of its own.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Runs `work` on each item, on up to `threads` threads, taking items in order.
/// Each result is folded into `acc` under a lock; `fold` returns true to halt the run
/// (no further item is started), as does `stop` being set. Returns the accumulator.
pub(crate) fn each<'a, T, R, A>(
    threads: usize,
    items: &'a [T],
    stop: Option<&AtomicBool>,
    acc: A,
    work: impl Fn(&'a T) -> R + Sync,
    fold: impl Fn(&mut A, &'a T, R) -> bool + Sync,
) -> A
where
    T: Sync,
    A: Send,
{
    let workers = threads.min(items.len()).max(1);
    let next = AtomicUsize::new(0);
    let halt = AtomicBool::new(false);
    let acc = Mutex::new(acc);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    if halt.load(Ordering::Relaxed)
                        || stop.is_some_and(|s| s.load(Ordering::Relaxed))
                    {
                        return;
                    }
                    let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        return;
                    };
                    let result = work(item);
                    let mut acc = acc
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if fold(&mut acc, item, result) {
                        halt.store(true, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    acc.into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `f` applied to every item, on up to one thread per core (contiguous slices, one
/// per thread), in the items' order; in this thread alone when there are fewer than
/// `min_parallel` items (for cheap work a thread costs more than it saves).
pub(crate) fn map<T, R>(items: &[T], min_parallel: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R>
where
    T: Sync,
    R: Send,
{
    map_on(cores(), items, min_parallel, f)
}

/// The number of cores this process may use.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// [`map`] on up to `threads` threads: more than the cores for work that also waits
/// (a disk sync, a relay's answer), so that a core has other work meanwhile.
pub(crate) fn map_on<T, R>(
    threads: usize,
    items: &[T],
    min_parallel: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R>
where
    T: Sync,
    R: Send,
{
    let workers = threads.min(items.len());
    if workers < 2 || items.len() < min_parallel {
        return items.iter().map(f).collect();
    }
    let size = items.len().div_ceil(workers);
    std::thread::scope(|scope| {
        let f = &f;
        let parts: Vec<_> = items
            .chunks(size)
            .map(|chunk| scope.spawn(move || chunk.iter().map(f).collect::<Vec<R>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|p| match p.join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_once_and_halting_stops_new_work() {
        let items: Vec<u32> = (1..=100).collect();
        let sum = each(
            cores(),
            &items,
            None,
            0u32,
            |i| *i,
            |acc, _, r| {
                *acc += r;
                false
            },
        );
        assert_eq!(sum, 5050);
        let started = AtomicUsize::new(0);
        let seen = each(
            cores(),
            &items,
            None,
            0usize,
            |_| started.fetch_add(1, Ordering::Relaxed),
            |acc, _, _| {
                *acc += 1;
                true
            },
        );
        // Each worker finishes the item it took, then stops.
        assert!(seen <= cores());
        let stop = AtomicBool::new(true);
        assert_eq!(
            each(
                cores(),
                &items,
                Some(&stop),
                0,
                |_| 1,
                |a, _, r| {
                    *a += r;
                    false
                }
            ),
            0
        );
    }

    #[test]
    fn map_keeps_the_order_of_many_items() {
        let items: Vec<u64> = (0..5000).collect();
        let doubled = map(&items, 2, |i| i * 2);
        assert_eq!(doubled.len(), 5000);
        assert!(doubled.iter().enumerate().all(|(i, d)| *d == 2 * i as u64));
        assert_eq!(map(&[0u64, 1, 2], 2, |i| i + 1), vec![1, 2, 3]);
        assert_eq!(map(&[0u64, 1, 2], 512, |i| i + 1), vec![1, 2, 3]);
    }
}
