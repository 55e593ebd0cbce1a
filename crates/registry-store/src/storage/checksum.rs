//! A checksum of every record the state machine has stored, kept with them in the same atomic
//! batch, and checked when the store opens: a record lost or reverted on disk (sled dropping
//! part of what it wrote on a full disk, say) is found at start-up, instead of the node serving
//! a state that differs from the other nodes' while claiming the same revision.
//!
//! The checksum is the number of records and the XOR of one 64-bit hash per record (of its key
//! and encoded value), so it is kept up to date per change: a write takes out the hash of the
//! value it replaces, read back from the store (see `StateMachine::apply`), and adds the new
//! one. Nothing per record is held in memory (an index of the hashes cost about 50 bytes an
//! instance, and a tenth of opening a million-record store).

use serde::Deserialize;
use serde::Serialize;

/// What is stored beside the records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChecksum {
    pub records: u64,
    pub xor: u64,
}

/// One record's share of the checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHash(u64);

impl RecordHash {
    pub fn of(key: &[u8], value: &[u8]) -> Self {
        Self(hash64(&[key, value]))
    }
}

impl StateChecksum {
    /// Counts a record that was not there before.
    pub fn add(&mut self, record: RecordHash) {
        self.records += 1;
        self.xor ^= record.0;
    }

    /// Takes out a record that is there no longer.
    pub fn take_out(&mut self, record: RecordHash) {
        self.records -= 1;
        self.xor ^= record.0;
    }

    /// Counts the records `other` counts as well (kept apart, e.g. by another thread).
    pub fn merge(&mut self, other: StateChecksum) {
        self.records += other.records;
        self.xor ^= other.xor;
    }

    /// Moves from `before` (`None`: no record) to `after` for one key.
    pub fn change(&mut self, before: Option<RecordHash>, after: Option<RecordHash>) {
        if let Some(before) = before {
            self.take_out(before);
        }
        if let Some(after) = after {
            self.add(after);
        }
    }
}

/// Two CRC-32s with different seeds make a 64-bit hash that is stable across builds and
/// machines (it is stored). CRC is affine: for texts of one length the two halves differ by a
/// constant, so this has 32 bits of entropy. Good enough to notice a lost or reverted record
/// in the XOR; nothing here tells keys apart by it.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn h(key: &[u8], value: &[u8]) -> Option<RecordHash> {
        Some(RecordHash::of(key, value))
    }

    #[test]
    fn the_checksum_depends_on_the_records_not_on_how_they_got_there() {
        let mut direct = StateChecksum::default();
        direct.change(None, h(b"a", b"2"));
        direct.change(None, h(b"c", b"3"));
        let mut roundabout = StateChecksum::default();
        roundabout.change(None, h(b"c", b"1"));
        roundabout.change(None, h(b"b", b"9"));
        roundabout.change(None, h(b"a", b"2"));
        roundabout.change(h(b"c", b"1"), h(b"c", b"3"));
        roundabout.change(h(b"b", b"9"), None);
        assert_eq!(direct, roundabout);
        assert_eq!(direct.records, 2);

        let mut lost = StateChecksum::default();
        lost.change(None, h(b"a", b"2"));
        assert_ne!(lost, direct, "a lost record shows");
        let mut reverted = StateChecksum::default();
        reverted.change(None, h(b"a", b"2"));
        reverted.change(None, h(b"c", b"1"));
        assert_ne!(reverted, direct, "a reverted value shows");
    }

    #[test]
    fn hashes_are_fixed_across_builds() {
        // Stored on disk: a change here makes every existing store fail its check.
        assert_eq!(hash64(&[b"key", b"value"]), hash64(&[b"key", b"value"]));
        assert_ne!(hash64(&[b"ke", b"yvalue"]), hash64(&[b"key", b"value"]));
        assert_eq!(hash64(&[b"key", b"value"]), 0x3fc0_a9e8_67de_00c0);
    }
}
