//! Eureka's JSON decoder: any bytes decode or fail cleanly; a decoded registration maps to an
//! instance that validation judges without panicking; what decodes re-encodes and decodes again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry_store::protocol::eureka::json;
use registry_store::protocol::eureka::mapping::to_instance;
use registry_store::protocol::eureka::mapping::EurekaSettings;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = json::decode_instance(data) {
        let instance = to_instance(&EurekaSettings::default(), &info);
        let _ = registry_store::validate::instance(&instance);
        let again = json::encode_instance(&info);
        json::decode_instance(&again).expect("an encoded instance decodes");
    }
    if let Ok(apps) = json::decode_applications(data) {
        let again = json::encode_applications(&apps);
        json::decode_applications(&again).expect("encoded applications decode");
    }
});
