//! openraft's storage conformance suite against the sled log store and state machine.

use openraft::testing::StoreBuilder;
use openraft::testing::Suite;
use registry_store::raft::types::StorageError;
use registry_store::raft::types::TypeConfig;
use registry_store::storage;
use registry_store::storage::SledLogStore;
use registry_store::storage::SledStateMachine;
use tempfile::TempDir;

struct SledBuilder;

impl StoreBuilder<TypeConfig, SledLogStore, SledStateMachine, TempDir> for SledBuilder {
    async fn build(&self) -> Result<(TempDir, SledLogStore, SledStateMachine), StorageError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (log, sm) = storage::open(&dir.path().join("data"), 1_000, &Default::default()).expect("open store");
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite_passes_on_sled() {
    Suite::test_all(SledBuilder).expect("storage suite");
}
