//! What a peer sends as a proposal (a forwarded write): any bytes decode or fail cleanly; a
//! decoded proposal that passes validation applies to a registry without panicking, as the
//! leader would apply it, so a hostile message cannot wedge the state machine.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry_store::command::Proposal;
use registry_store::state::RegistryState;
use registry_store::storage::codec;

fuzz_target!(|data: &[u8]| {
    let Ok(proposal) = codec::decode::<Proposal>(data) else { return };
    if registry_store::validate::validate_command(&proposal.command).is_err() {
        return;
    }
    let mut state = RegistryState::new();
    let (_, changes) = state.apply(1, &proposal);
    // What apply produced encodes (it is written through to storage).
    for change in &changes {
        codec::encode(change).expect("a change encodes");
    }
});
