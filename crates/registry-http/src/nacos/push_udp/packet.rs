//! The UDP push's datagrams, as Nacos's `UdpPushService` writes them and 1.x clients answer:
//! the push `{"type":"dom","data":"<ServiceInfo JSON>","lastRefTime":N}` (gzip when 1 KiB or
//! more, `compressIfNecessary`), and the client's ack `{"type":"push-ack","lastRefTime":N,
//! "data":""}` (`AckPacket`).

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use serde::Deserialize;
use serde::Serialize;

use super::super::wire::ServiceInfo;

/// Pushes this large or larger are gzipped (`UdpPushService.compressIfNecessary`).
pub const COMPRESS_FROM: usize = 1024;

/// The largest datagram sent: a push that does not fit (a service with thousands of instances)
/// is not sent; the client keeps polling the list.
pub const MAX_DATAGRAM: usize = 60 * 1024;

/// The largest ack read; a longer datagram is no ack.
pub const MAX_ACK: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("the push is {0} bytes, over the {MAX_DATAGRAM}-byte datagram bound")]
    TooLarge(usize),
    #[error("cannot encode the push: {0}")]
    Encode(String),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Push<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    /// The ServiceInfo as a JSON string (the client parses it again).
    data: &'a str,
    last_ref_time: u64,
}

/// The datagram pushing `info` (its `lastRefTime` key is `last_ref_time`).
pub fn encode_push(info: &ServiceInfo, last_ref_time: u64) -> Result<Vec<u8>, PacketError> {
    let data = serde_json::to_string(info).map_err(|e| PacketError::Encode(e.to_string()))?;
    let push = Push {
        kind: "dom",
        data: &data,
        last_ref_time,
    };
    let bytes = serde_json::to_vec(&push).map_err(|e| PacketError::Encode(e.to_string()))?;
    let bytes = if bytes.len() < COMPRESS_FROM {
        bytes
    } else {
        let mut gz = GzEncoder::new(Vec::with_capacity(bytes.len() / 4), Compression::default());
        gz.write_all(&bytes)
            .and_then(|_| gz.finish())
            .map_err(|e| PacketError::Encode(e.to_string()))?
    };
    if bytes.len() > MAX_DATAGRAM {
        return Err(PacketError::TooLarge(bytes.len()));
    }
    Ok(bytes)
}

/// A client's answer to a push.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ack {
    #[serde(rename = "type", default)]
    pub kind: String,
    pub last_ref_time: u64,
}

/// The ack in `datagram`, if it is one (Nacos trims the text and reads it as JSON).
pub fn decode_ack(datagram: &[u8]) -> Option<Ack> {
    if datagram.len() > MAX_ACK {
        return None;
    }
    let text = std::str::from_utf8(datagram).ok()?.trim();
    serde_json::from_str(text).ok()
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use flate2::read::GzDecoder;

    use super::*;
    use crate::nacos::wire::Host;

    /// 64 hex digits that do not compress (a linear congruential sequence seeded by `i`).
    fn noise(i: usize) -> String {
        let mut x = i as u64 ^ 0x9e37_79b9_7f4a_7c15;
        (0..4)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                format!("{:016x}", x ^ (x >> 29))
            })
            .collect()
    }

    fn info(hosts: usize) -> ServiceInfo {
        let host = |i: usize| Host {
            instance_id: format!("10.0.0.{i}#8080#DEFAULT#DEFAULT_GROUP@@orders"),
            ip: format!("10.0.0.{i}"),
            port: 8080,
            weight: 1.0,
            healthy: true,
            enabled: true,
            ephemeral: true,
            cluster_name: "DEFAULT".into(),
            service_name: "DEFAULT_GROUP@@orders".into(),
            metadata: [("noise".to_string(), noise(i))].into(),
            instance_heart_beat_interval: 5000,
            instance_heart_beat_time_out: 15000,
            ip_delete_timeout: 30000,
            instance_id_generator: "simple".into(),
        };
        ServiceInfo {
            name: "DEFAULT_GROUP@@orders".into(),
            group_name: "DEFAULT_GROUP".into(),
            clusters: "DEFAULT".into(),
            cache_millis: 10_000,
            hosts: (0..hosts).map(host).collect(),
            last_ref_time: 1,
            checksum: String::new(),
            all_ips: false,
            reach_protection_threshold: false,
            valid: true,
        }
    }

    fn unpacked(bytes: &[u8]) -> serde_json::Value {
        let text = if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut s = String::new();
            GzDecoder::new(bytes).read_to_string(&mut s).unwrap();
            s
        } else {
            String::from_utf8(bytes.to_vec()).unwrap()
        };
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn a_push_carries_the_service_info_as_a_json_string() {
        let bytes = encode_push(&info(1), 42).unwrap();
        assert!(bytes.len() < COMPRESS_FROM);
        let push = unpacked(&bytes);
        assert_eq!(push["type"], "dom");
        assert_eq!(push["lastRefTime"], 42);
        let data: ServiceInfo = serde_json::from_str(push["data"].as_str().unwrap()).unwrap();
        assert_eq!(data, info(1));
    }

    #[test]
    fn a_large_push_is_gzipped_and_a_huge_one_refused() {
        let bytes = encode_push(&info(20), 7).unwrap();
        assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
        assert_eq!(unpacked(&bytes)["lastRefTime"], 7);
        assert!(matches!(encode_push(&info(3000), 7), Err(PacketError::TooLarge(_))));
    }

    #[test]
    fn acks_are_read_and_anything_else_is_not() {
        let ack = decode_ack(br#" {"type":"push-ack","lastRefTime":42,"data":""} "#).unwrap();
        assert_eq!(ack.kind, "push-ack");
        assert_eq!(ack.last_ref_time, 42);
        assert_eq!(decode_ack(b"nonsense"), None);
        assert_eq!(decode_ack(br#"{"type":"push-ack"}"#), None);
        assert_eq!(decode_ack(&[b' '; MAX_ACK + 1]), None);
        assert_eq!(decode_ack(&[0xff, 0xfe]), None);
    }
}
