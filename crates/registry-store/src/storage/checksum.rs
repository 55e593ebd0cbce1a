//! A checksum of every record the state machine has stored, kept with them in the same atomic
//! batch, and checked when the store opens: a record lost or reverted on disk (sled dropping
//! part of what it wrote on a full disk, say) is found at start-up, instead of the node serving
//! a state that differs from the other nodes' while claiming the same revision.
//!
//! The checksum is the number of records and the XOR of one 64-bit hash per record (of its key
//! and encoded value), so it is kept up to date per change: the hash of each record's current
//! value is held in memory (24 bytes a record, keyed by a 128-bit hash of the key, never stored:
//! the stored hash has 32 bits of entropy per key length, see [`hash64`], so keys differing
//! only by it are common at a million records, and an index keyed by it made the sum depend on
//! the order of writes).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::hash::BuildHasherDefault;
use std::hash::Hasher;
use std::hash::RandomState;

use serde::Deserialize;
use serde::Serialize;

/// What is stored beside the records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChecksum {
    pub records: u64,
    pub xor: u64,
}

/// Two CRC-32s with different seeds make a 64-bit hash that is stable across builds and
/// machines (it is stored). CRC is affine: for texts of one length the two halves differ by a
/// constant, so this has 32 bits of entropy. Good enough to notice a lost or reverted record
/// in the XOR; not to tell keys apart (see [`key_id`]).
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

/// Which key a record is held under in memory: two SipHashes of it, keyed at random when the
/// index is made (never stored), so no client can choose keys that collide in it.
fn key_id(keys: &RandomState, key: &[u8]) -> u128 {
    let half = |salt: u8| u128::from(keys.hash_one((salt, key)));
    (half(0) << 64) | half(1)
}

/// Hashes a [`key_id`] by taking its low half: it is a keyed hash already, so hashing it again
/// (as the map's default hasher would, on every insert and on every growth) adds nothing.
#[derive(Default, Clone, Copy)]
struct KeyIdHasher(u64);

impl Hasher for KeyIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u128(&mut self, id: u128) {
        self.0 = id as u64;
    }

    /// Not reached (the map's keys are `u128`s); folds any bytes in all the same.
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
}

/// The current records' hashes and their checksum.
#[derive(Default)]
pub struct ChecksumIndex {
    by_key: HashMap<u128, u64, BuildHasherDefault<KeyIdHasher>>,
    keys: RandomState,
    sum: StateChecksum,
}

impl std::fmt::Debug for ChecksumIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChecksumIndex")
            .field("records", &self.by_key.len())
            .field("sum", &self.sum)
            .finish()
    }
}

impl ChecksumIndex {
    /// Records that `key` now holds `value`.
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        let record = hash64(&[key, value]);
        match self.by_key.insert(key_id(&self.keys, key), record) {
            Some(old) => self.sum.xor ^= old,
            None => self.sum.records += 1,
        }
        self.sum.xor ^= record;
    }

    /// Records that `key` no longer exists.
    pub fn remove(&mut self, key: &[u8]) {
        if let Some(old) = self.by_key.remove(&key_id(&self.keys, key)) {
            self.sum.xor ^= old;
            self.sum.records -= 1;
        }
    }

    pub fn sum(&self) -> StateChecksum {
        self.sum
    }

    /// Makes room for `records` more.
    pub fn reserve(&mut self, records: usize) {
        self.by_key.reserve(records);
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

    /// Two CRC-32s of one text differ by a constant that depends on its length alone (CRC is
    /// affine), so `hash64` has 32 bits of entropy per length: among a million keys of one
    /// length, dozens of pairs collide. A million-instance cluster restarted from a clean stop
    /// found its records "not matching their checksum" on every node (records keyed by that hash
    /// in memory made the second of two colliding keys replace the first, so the sum depended on
    /// the order of writes, which differs from the order of loading) and rebuilt from the whole
    /// log until the kernel killed it.
    #[test]
    fn keys_whose_stored_hashes_collide_still_count_as_two_records() {
        let mut seen = HashMap::new();
        // Keys of one length with varied bytes (as real ones vary in host, app and port).
        let key_of = |n: u64| {
            let mixed = n.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29) ^ 0xa5a5_5a5a_dead_beef;
            format!("default/default/app.{:016x}", mixed.wrapping_mul(0xbf58_476d_1ce4_e5b9))
        };
        let (a, b) = (0..2_000_000u64)
            .map(key_of)
            .find_map(|key| {
                let hash = hash64(&[key.as_bytes()]);
                seen.insert(hash, key.clone()).map(|other| (other, key))
            })
            .expect("a pair of keys with the same 64-bit CRC pair among two million");
        let mut written = ChecksumIndex::default();
        written.put(a.as_bytes(), b"1");
        written.put(b.as_bytes(), b"2");
        let mut loaded = ChecksumIndex::default();
        loaded.put(b.as_bytes(), b"2");
        loaded.put(a.as_bytes(), b"1");
        assert_eq!(written.sum(), loaded.sum(), "{a} and {b}");
        assert_eq!(written.sum().records, 2);
        written.remove(a.as_bytes());
        assert_eq!(written.sum().records, 1);
    }

    #[test]
    fn hashes_are_fixed_across_builds() {
        // Stored on disk: a change here makes every existing store fail its check.
        assert_eq!(hash64(&[b"key", b"value"]), hash64(&[b"key", b"value"]));
        assert_ne!(hash64(&[b"ke", b"yvalue"]), hash64(&[b"key", b"value"]));
        assert_eq!(hash64(&[b"key", b"value"]), 0x3fc0_a9e8_67de_00c0);
    }
}
