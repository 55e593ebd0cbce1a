//! A checksum of every record the state machine has stored, kept with them in the same atomic
//! batch, and checked when the store opens: a record lost or reverted on disk (sled dropping
//! part of what it wrote on a full disk, say) is found at start-up, instead of the node serving
//! a state that differs from the other nodes' while claiming the same revision.
//!
//! The checksum is the number of records and the XOR of one 64-bit hash per record (of its key
//! and encoded value), so it is kept up to date per change: the hash of each record's current
//! value is held in memory (16 bytes a record, keyed by a hash of the key).

use std::collections::HashMap;

use serde::Deserialize;
use serde::Serialize;

/// What is stored beside the records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChecksum {
    pub records: u64,
    pub xor: u64,
}

/// Two CRC-32s with different seeds make a 64-bit hash that is stable across builds and
/// machines (it is stored).
fn hash64(parts: &[&[u8]]) -> u64 {
    let half = |seed: u32| {
        let mut h = crc32fast::Hasher::new_with_initial(seed);
        for part in parts {
            h.update(&(part.len() as u64).to_be_bytes());
            h.update(part);
        }
        u64::from(h.finalize())
    };
    (half(0x5eed_0001) << 32) | half(0x5eed_0002)
}

/// The current records' hashes and their checksum.
#[derive(Debug, Default)]
pub struct ChecksumIndex {
    by_key: HashMap<u64, u64>,
    sum: StateChecksum,
}

impl ChecksumIndex {
    /// Records that `key` now holds `value`.
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        let record = hash64(&[key, value]);
        match self.by_key.insert(hash64(&[key]), record) {
            Some(old) => self.sum.xor ^= old,
            None => self.sum.records += 1,
        }
        self.sum.xor ^= record;
    }

    /// Records that `key` no longer exists.
    pub fn remove(&mut self, key: &[u8]) {
        if let Some(old) = self.by_key.remove(&hash64(&[key])) {
            self.sum.xor ^= old;
            self.sum.records -= 1;
        }
    }

    pub fn sum(&self) -> StateChecksum {
        self.sum
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_depends_on_the_records_not_on_how_they_got_there() {
        let mut direct = ChecksumIndex::default();
        direct.put(b"a", b"2");
        direct.put(b"c", b"3");
        let mut roundabout = ChecksumIndex::default();
        roundabout.put(b"c", b"1");
        roundabout.put(b"b", b"9");
        roundabout.put(b"a", b"2");
        roundabout.put(b"c", b"3");
        roundabout.remove(b"b");
        roundabout.remove(b"missing");
        assert_eq!(direct.sum(), roundabout.sum());
        assert_eq!(direct.sum().records, 2);

        let mut lost = ChecksumIndex::default();
        lost.put(b"a", b"2");
        assert_ne!(lost.sum(), direct.sum(), "a lost record shows");
        let mut reverted = ChecksumIndex::default();
        reverted.put(b"a", b"2");
        reverted.put(b"c", b"1");
        assert_ne!(reverted.sum(), direct.sum(), "a reverted value shows");
    }

    #[test]
    fn hashes_are_fixed_across_builds() {
        // Stored on disk: a change here makes every existing store fail its check.
        assert_eq!(hash64(&[b"key", b"value"]), hash64(&[b"key", b"value"]));
        assert_ne!(hash64(&[b"ke", b"yvalue"]), hash64(&[b"key", b"value"]));
        assert_eq!(hash64(&[b"key", b"value"]), 0x3fc0_a9e8_67de_00c0);
    }
}
