//! The most recently appended log entries, kept decoded in memory, so that replication to each
//! follower and apply read them without decoding them from sled again.
//!
//! The cache holds a contiguous run of indexes ending at the last append, bounded by count and by
//! encoded size; reads it cannot serve whole go to sled. Entries share their command batch
//! (`Arc`), so serving one is a reference count, not a copy.

use std::collections::VecDeque;

use openraft::RaftLogId;
use parking_lot::Mutex;

use crate::raft::types::Entry;

/// Most entries kept.
const MAX_ENTRIES: usize = 4_096;
/// Most encoded bytes kept.
const MAX_BYTES: usize = 4 * 1024 * 1024;

#[derive(Default)]
pub struct EntryCache {
    inner: Mutex<Run>,
}

/// Entries with consecutive indexes, oldest first, with their encoded sizes.
#[derive(Default)]
struct Run {
    entries: VecDeque<(Entry, usize)>,
    bytes: usize,
}

impl Run {
    fn first_index(&self) -> Option<u64> {
        self.entries.front().map(|(e, _)| e.get_log_id().index)
    }

    fn last_index(&self) -> Option<u64> {
        self.entries.back().map(|(e, _)| e.get_log_id().index)
    }

    fn pop_front(&mut self) {
        if let Some((_, size)) = self.entries.pop_front() {
            self.bytes -= size;
        }
    }

    fn pop_back(&mut self) {
        if let Some((_, size)) = self.entries.pop_back() {
            self.bytes -= size;
        }
    }
}

impl EntryCache {
    /// Records an appended entry of `size` encoded bytes.
    pub fn appended(&self, entry: Entry, size: usize) {
        let mut run = self.inner.lock();
        let index = entry.get_log_id().index;
        if run.last_index().is_some_and(|last| last + 1 != index) {
            // Not the next index (the log was truncated or purged underneath): start afresh.
            *run = Run::default();
        }
        run.bytes += size;
        run.entries.push_back((entry, size));
        while run.entries.len() > MAX_ENTRIES || (run.bytes > MAX_BYTES && run.entries.len() > 1) {
            run.pop_front();
        }
    }

    /// Entries `start..end` if every one of them is cached.
    pub fn get(&self, start: u64, end: u64) -> Option<Vec<Entry>> {
        self.get_limited(start, end, usize::MAX)
    }

    /// Entries from `start` on, up to `end` or up to the entry that takes them to `max_bytes`
    /// encoded, if every one of those is cached.
    pub fn get_limited(&self, start: u64, end: u64, max_bytes: usize) -> Option<Vec<Entry>> {
        let run = self.inner.lock();
        let first = run.first_index()?;
        let last = run.last_index()?;
        if start < first {
            return None;
        }
        let mut entries = Vec::new();
        let mut bytes = 0;
        for (entry, size) in run.entries.range((start - first) as usize..) {
            if entry.get_log_id().index >= end {
                return Some(entries);
            }
            entries.push(entry.clone());
            bytes += size;
            if bytes >= max_bytes {
                return Some(entries);
            }
        }
        // Ran out of cached entries: enough only if nothing more was asked for.
        (end <= last + 1 || end <= start).then_some(entries)
    }

    /// Forgets entries from `index` on (the log was truncated there).
    pub fn truncated(&self, index: u64) {
        let mut run = self.inner.lock();
        while run.last_index().is_some_and(|last| last >= index) {
            run.pop_back();
        }
    }

    /// Forgets entries up to and including `index` (purged from the log).
    pub fn purged(&self, index: u64) {
        let mut run = self.inner.lock();
        while run.first_index().is_some_and(|first| first <= index) {
            run.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_entry as entry;

    fn indexes(entries: Option<Vec<Entry>>) -> Option<Vec<u64>> {
        entries.map(|v| v.iter().map(|e| e.log_id.index).collect())
    }

    #[test]
    fn serves_only_runs_it_holds_whole() {
        let cache = EntryCache::default();
        for i in 5..=9 {
            cache.appended(entry(i), 10);
        }
        assert_eq!(indexes(cache.get(6, 9)), Some(vec![6, 7, 8]));
        assert_eq!(indexes(cache.get(5, 10)), Some(vec![5, 6, 7, 8, 9]));
        assert_eq!(indexes(cache.get(7, 7)), Some(vec![]));
        assert_eq!(cache.get(4, 7), None, "index 4 is not cached");
        assert_eq!(cache.get(8, 11), None, "index 10 does not exist yet");
    }

    #[test]
    fn truncation_purge_and_gaps_keep_the_run_consistent() {
        let cache = EntryCache::default();
        for i in 1..=6 {
            cache.appended(entry(i), 10);
        }
        cache.truncated(5);
        assert_eq!(cache.get(5, 6), None);
        cache.appended(entry(5), 10);
        assert_eq!(indexes(cache.get(1, 6)), Some(vec![1, 2, 3, 4, 5]));
        cache.purged(2);
        assert_eq!(cache.get(2, 4), None);
        assert_eq!(indexes(cache.get(3, 6)), Some(vec![3, 4, 5]));
        cache.appended(entry(9), 10);
        assert_eq!(indexes(cache.get(9, 10)), Some(vec![9]), "a gap starts a new run");
        assert_eq!(cache.get(5, 6), None);
    }

    #[test]
    fn limited_reads_stop_after_the_entry_that_passes_the_byte_limit() {
        let cache = EntryCache::default();
        for i in 1..=9 {
            cache.appended(entry(i), 10);
        }
        assert_eq!(indexes(cache.get_limited(2, 9, 25)), Some(vec![2, 3, 4]));
        assert_eq!(indexes(cache.get_limited(2, 9, 1)), Some(vec![2]));
        assert_eq!(
            indexes(cache.get_limited(8, 50, 25)),
            None,
            "index 10 does not exist yet"
        );
        assert_eq!(indexes(cache.get_limited(7, 50, 25)), Some(vec![7, 8, 9]));
    }

    #[test]
    fn stays_within_its_byte_budget() {
        let cache = EntryCache::default();
        for i in 1..=4 {
            cache.appended(entry(i), MAX_BYTES / 3);
        }
        assert_eq!(cache.get(1, 2), None);
        assert_eq!(indexes(cache.get(2, 5)), Some(vec![2, 3, 4]));
    }
}
