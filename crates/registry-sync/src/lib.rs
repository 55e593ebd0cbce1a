//! Adapter workers that mirror external registries into the store and export ours to them (D6).
//!
//! Not built yet: the federation issue fills this crate in. It depends only on the store, whose
//! `MirrorBatch` command and per-source checkpoints are what the workers will propose.
