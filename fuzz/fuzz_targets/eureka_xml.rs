//! Eureka's XML decoder: any bytes decode or fail cleanly; a decoded registration maps to an
//! instance that validation judges without panicking; what decodes re-encodes and decodes again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry_store::protocol::eureka::xml;
use registry_store::protocol::eureka::mapping::to_instance;
use registry_store::protocol::eureka::mapping::EurekaSettings;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = xml::decode_instance(data) {
        let instance = to_instance(&EurekaSettings::default(), &info);
        let _ = registry_store::validate::instance(&instance);
        let again = xml::encode_instance(&info);
        xml::decode_instance(&again).expect("an encoded instance decodes");
    }
    if let Ok(apps) = xml::decode_applications(data) {
        let again = xml::encode_applications(&apps);
        xml::decode_applications(&again).expect("encoded applications decode");
    }
});
