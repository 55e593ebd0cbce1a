//! Which clients take UDP pushes: Nacos's `UdpPushService.canEnablePush` over the `ClientInfo`
//! its `User-Agent` (else `Client-Version`) names: a Nacos SDK type, at or above the version
//! `SwitchDomain` sets for it (`pushVersionOfJava` 0.1.0, `...Python` 0.4.3 for `Nacos-DNS`,
//! `...C` 1.0.12, `...Go` 0.1.0, `...Csharp` 0.9.0). Anything else (a browser, curl, the PHP or
//! an unknown client, an agent without `:v<version>`) is answered without being subscribed.

/// `(agent prefix, lowest version pushed to)`, from `ClientInfo.ClientTypeDescription`.
const PUSHED: [(&str, [u64; 3]); 6] = [
    ("Nacos-Java-Client", [0, 1, 0]),
    ("Nacos-DNS", [0, 4, 3]),
    ("Nacos-C-Client", [1, 0, 12]),
    ("vip-client4cpp", [1, 0, 12]),
    ("Nacos-Go-Client", [0, 1, 0]),
    ("Nacos-CSharp-Client", [0, 9, 0]),
];

/// `major.minor.patch` after `:v` (`ClientInfo.parseVersion`); missing parts are 0, and an
/// agent without one has version 0.0.0.
fn version(agent: &str) -> [u64; 3] {
    let mut out = [0; 3];
    let Some(start) = agent.find(":v") else { return out };
    for (slot, part) in out.iter_mut().zip(agent[start + 2..].split('.')) {
        let digits: String = part.chars().take_while(char::is_ascii_digit).take(9).collect();
        *slot = digits.parse().unwrap_or(0);
    }
    out
}

/// Whether a client with this agent is pushed to.
pub fn takes_push(agent: &str) -> bool {
    PUSHED
        .iter()
        .find(|(prefix, _)| agent.starts_with(prefix))
        .is_some_and(|(_, lowest)| version(agent) >= *lowest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nacos_sdks_take_pushes_others_do_not() {
        // The Node SDK (nacos-naming 2.6.3) says it is the Java client 1.0.0.
        assert!(takes_push("Nacos-Java-Client:v1.0.0"));
        assert!(takes_push("Nacos-DNS:v0.4.3"));
        assert!(!takes_push("Nacos-DNS:v0.4.2"));
        assert!(takes_push("Nacos-Go-Client:v2.1.0"));
        assert!(!takes_push("Nacos-C-Client:v1.0.11"));
        assert!(!takes_push("Nacos-Java-Client"), "no version: unknown, 0.0.0");
        assert!(!takes_push("Nacos-Php-Client:v9.0.0"));
        assert!(!takes_push("curl/8.0"));
        assert!(!takes_push(""));
        assert!(
            !takes_push("Nacos-Java-Client:v0.0.99999999999999999999"),
            "no overflow"
        );
        assert!(takes_push("Nacos-Java-Client:v99999999999999999999"));
    }
}
