//! ServiceCenter request bodies: any bytes parse or fail cleanly as each request the API takes,
//! and what parses is validated and mapped onto the store's model without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry_http::servicecenter::validate;
use registry_store::model::Tenant;
use registry_store::protocol::servicecenter::mapping::instance_from_wire;
use registry_store::protocol::servicecenter::mapping::service_from_wire;
use registry_store::protocol::servicecenter::mapping::LeaseLimits;
use registry_store::protocol::servicecenter::wire::CreateServiceRequest;
use registry_store::protocol::servicecenter::wire::HeartbeatSet;
use registry_store::protocol::servicecenter::wire::RegisterInstanceRequest;
use registry_store::protocol::servicecenter::wire::SchemasRequest;
use registry_store::protocol::servicecenter::wire::TagsRequest;

fuzz_target!(|data: &[u8]| {
    let create = serde_json::from_slice::<CreateServiceRequest>(data).ok();
    if let Some(wire) = create.and_then(|r| r.service) {
        if validate::service(&wire).is_ok() {
            let service = service_from_wire(Tenant::default_tenant(), &wire);
            let _ = registry_store::validate::service(&service);
        }
    }
    let register = serde_json::from_slice::<RegisterInstanceRequest>(data).ok();
    if let Some(wire) = register.and_then(|r| r.instance) {
        if validate::instance(&wire).is_ok() {
            let service = service_from_wire(Tenant::default_tenant(), &Default::default());
            let instance = instance_from_wire(&service, &wire, LeaseLimits::default());
            let _ = registry_store::validate::instance(&instance);
        }
    }
    let _ = serde_json::from_slice::<HeartbeatSet>(data);
    let _ = serde_json::from_slice::<SchemasRequest>(data);
    let _ = serde_json::from_slice::<TagsRequest>(data);
});
