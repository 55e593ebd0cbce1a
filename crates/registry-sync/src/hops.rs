//! The origin cluster and hop path a record carries in its metadata, so that no topology of
//! clusters and hubs (two hubs syncing each other, a ring of three) can loop or duplicate.
//!
//! `sync.hops` lists, comma-separated, every cluster of ours the record has been mirrored into,
//! starting with the one it was first seen in (also in `sync.origin`). A cluster never imports a
//! record whose path names it, never streams one to a cluster the path names, and marks what it
//! exports with its own name last, so it can find its own copies at a peer again.

use std::collections::BTreeMap;

use registry_store::model::Properties;
use smol_str::SmolStr;

/// Metadata key of the hop path.
pub const HOPS_KEY: &str = "sync.hops";
/// Metadata key of the cluster a record was first seen in.
pub const ORIGIN_KEY: &str = "sync.origin";

/// Metadata the hop path can be read from: the store's, or a protocol's wire record.
pub trait Metadata {
    fn value(&self, key: &str) -> Option<&str>;
}

impl Metadata for Properties {
    fn value(&self, key: &str) -> Option<&str> {
        self.get(key).map(SmolStr::as_str)
    }
}

impl Metadata for BTreeMap<String, String> {
    fn value(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

/// The clusters a record has passed through, oldest first.
pub fn path(metadata: &impl Metadata) -> Vec<&str> {
    metadata
        .value(HOPS_KEY)
        .map(|h| h.split(',').map(str::trim).filter(|c| !c.is_empty()).collect())
        .unwrap_or_default()
}

/// Whether the record has already been in `cluster`.
pub fn visited(metadata: &impl Metadata, cluster: &str) -> bool {
    path(metadata).contains(&cluster)
}

/// Whether `cluster` was the last to handle the record: a copy it exported (or mirrored).
pub fn last_hop_is(metadata: &impl Metadata, cluster: &str) -> bool {
    path(metadata).last() == Some(&cluster)
}

/// Appends `cluster` to the path (unless it is already last) and sets the origin to the first hop.
pub fn add_hop(metadata: &mut Properties, cluster: &str) {
    let mut hops: Vec<String> = path(metadata).into_iter().map(str::to_string).collect();
    if hops.last().map(String::as_str) != Some(cluster) {
        hops.push(cluster.to_string());
    }
    metadata.insert(ORIGIN_KEY.into(), hops[0].as_str().into());
    metadata.insert(HOPS_KEY.into(), hops.join(",").into());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_grows_one_cluster_at_a_time() {
        let mut m = Properties::new();
        assert!(path(&m).is_empty() && !visited(&m, "a"));
        add_hop(&mut m, "a");
        add_hop(&mut m, "a");
        add_hop(&mut m, "hub");
        assert_eq!(path(&m), vec!["a", "hub"]);
        assert_eq!(m.get(ORIGIN_KEY).unwrap(), "a");
        assert!(visited(&m, "a") && visited(&m, "hub") && !visited(&m, "b"));
        assert!(last_hop_is(&m, "hub") && !last_hop_is(&m, "a"));
    }

    #[test]
    fn a_hand_written_path_is_read_leniently() {
        let m = Properties::from_iter([(HOPS_KEY.into(), " a, ,b ".into())]);
        assert_eq!(path(&m), vec!["a", "b"]);
    }
}
