//! The Eureka registration the in-process benches apply: the same body `loadgen` sends, decoded
//! and mapped as the Eureka API does before proposing it.

use registry_bench::driver::eureka::instance_json;
use registry_store::command::Command;
use registry_store::command::Proposal;
use registry_store::command::RegisterInstance;
use registry_store::protocol::eureka::json;
use registry_store::protocol::eureka::mapping::to_instance;
use registry_store::protocol::eureka::mapping::version_of;
use registry_store::protocol::eureka::mapping::EurekaSettings;

/// Instances per app (`BENCH-{n / PER_APP}`).
pub const PER_APP: u64 = 10;

/// The registration of instance `n`, as the Eureka API proposes it.
pub fn registration(settings: &EurekaSettings, n: u64) -> Proposal {
    let app = format!("BENCH-{}", n / PER_APP);
    let info = json::decode_instance(instance_json(&app, n, 90).as_bytes()).expect("valid body");
    Proposal {
        at_ms: 1_700_000_000_000,
        command: Command::RegisterInstance(RegisterInstance::new(
            to_instance(settings, &info),
            Some(settings.service_for_app(&info.app, version_of(&info))),
        )),
    }
}
