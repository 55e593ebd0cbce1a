//! ServiceCenter version rules (`latest`, `1.0.0+`, `1.0.0-2.0.0`, exact): any text parses to a
//! rule that selects from any versions without panicking, and what it selects was offered.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry_store::protocol::servicecenter::version::Version;
use registry_store::protocol::servicecenter::version::VersionRule;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (rule, versions) = text.split_once('\n').unwrap_or((text, "0.0.1 1.2.3 1.10.0 2.0.0.1"));
    let offered: Vec<&str> = versions.split_whitespace().collect();
    for v in &offered {
        let _ = Version::parse(v);
    }
    let selected = VersionRule::parse(rule).select(offered.clone(), |v| v);
    assert!(selected.iter().all(|v| offered.contains(v)));
});
