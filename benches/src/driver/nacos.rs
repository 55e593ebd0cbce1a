//! Nacos naming Open API v1 requests, as `nacos-sdk-python` 1.0.0 sends them (`nacos/client.py`:
//! `add_naming_instance`, `send_heartbeat`, `list_naming_instance`): every parameter in the query
//! string, the beat as JSON in its `beat` parameter. Paths are absolute (`/nacos/v1/ns/...`), so
//! the target is the server's root (`http://host:8848`). The same requests load r-nacos.

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;

use super::bodiless;
use super::send_all;
use super::Op;
use super::Shape;
use crate::conn::Conn;
use crate::error::BenchError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NacosOp {
    Register,
    Heartbeat,
    List,
}

impl NacosOp {
    pub fn from(op: Op) -> Option<NacosOp> {
        Some(match op {
            Op::Register => NacosOp::Register,
            Op::Heartbeat => NacosOp::Heartbeat,
            Op::List => NacosOp::List,
            _ => return None,
        })
    }
}

pub struct Nacos {
    op: NacosOp,
    shape: Shape,
}

impl Nacos {
    pub fn new(op: NacosOp, shape: Shape) -> Nacos {
        Nacos { op, shape }
    }

    /// Registers every instance of the shape unless the operation registers its own.
    pub async fn prepare(&self, conns: &mut [Conn]) -> Result<(), BenchError> {
        if self.op == NacosOp::Register {
            return Ok(());
        }
        let requests = (0..self.shape.instances).map(|n| self.register(n));
        send_all(conns, "nacos register", requests, |s| s.is_success()).await
    }

    pub fn request(&self, seq: u64) -> Request<Full<Bytes>> {
        match self.op {
            NacosOp::Register => self.register(seq),
            NacosOp::Heartbeat => self.beat(self.shape.instance(seq)),
            NacosOp::List => {
                let service = service_name(&self.shape, self.shape.instance(seq));
                let query = encode(&[("serviceName", &service), ("groupName", "DEFAULT_GROUP")]);
                bodiless(
                    "GET",
                    &format!("/nacos/v1/ns/instance/list?{query}"),
                    "application/json",
                )
            }
        }
    }

    /// Registration of instance `n` (not reduced modulo the shape: a storm registers new ones),
    /// ephemeral, as the SDK registers by default.
    pub fn register(&self, n: u64) -> Request<Full<Bytes>> {
        let service = service_name(&self.shape, n);
        let (ip, port) = (ip(n), port(n).to_string());
        let query = encode(&[
            ("ip", &ip),
            ("port", &port),
            ("serviceName", &service),
            ("weight", "1.0"),
            ("enable", "True"),
            ("healthy", "True"),
            ("clusterName", "DEFAULT"),
            ("ephemeral", "True"),
            ("groupName", "DEFAULT_GROUP"),
            ("metadata", r#"{"version":"1.0.0"}"#),
        ]);
        bodiless("POST", &format!("/nacos/v1/ns/instance?{query}"), "application/json")
    }

    /// Instance `n`'s beat (`send_heartbeat`: the service name carries its group).
    fn beat(&self, n: u64) -> Request<Full<Bytes>> {
        let service = format!("DEFAULT_GROUP@@{}", service_name(&self.shape, n));
        let beat = serde_json::json!({
            "serviceName": service, "ip": ip(n), "port": port(n), "weight": 1.0, "ephemeral": true,
            "cluster": "DEFAULT",
        })
        .to_string();
        let query = encode(&[
            ("serviceName", &service),
            ("beat", &beat),
            ("groupName", "DEFAULT_GROUP"),
        ]);
        bodiless(
            "PUT",
            &format!("/nacos/v1/ns/instance/beat?{query}"),
            "application/json",
        )
    }
}

/// The service instance `n` belongs to.
pub fn service_name(shape: &Shape, n: u64) -> String {
    format!("bench-{}", shape.app_of(n))
}

fn ip(n: u64) -> String {
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

/// Ports spread instances that share an address (more than 2^24 of them).
fn port(n: u64) -> u64 {
    8080 + (n >> 24)
}

fn encode(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_beat_carries_the_instance_as_json_in_the_query() {
        let w = Nacos::new(NacosOp::Heartbeat, Shape::default());
        let uri = w.request(1_234).uri().to_string();
        let query = uri.split_once('?').unwrap().1;
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let beat = &pairs.iter().find(|(k, _)| k == "beat").unwrap().1;
        let beat: serde_json::Value = serde_json::from_str(beat).unwrap();
        assert_eq!(beat["ip"], "10.0.0.234", "request 1,234 beats instance 234 of 1,000");
        assert_eq!(beat["serviceName"], "DEFAULT_GROUP@@bench-34");
    }

    #[test]
    fn registrations_of_a_storm_are_all_different() {
        let w = Nacos::new(NacosOp::Register, Shape::default());
        assert_ne!(w.request(1).uri(), w.request(1_001).uri());
    }
}
