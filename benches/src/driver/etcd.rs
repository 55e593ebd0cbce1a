//! etcd v3 through its HTTP/JSON gateway (`/v3/kv/put`): the replicated-write baseline. Each put
//! stores a value the size of a Eureka instance record under a key per instance.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;

use super::eureka::instance_json;
use super::with_body;
use super::Shape;

pub struct Etcd {
    shape: Shape,
}

impl Etcd {
    pub fn new(shape: Shape) -> Etcd {
        Etcd { shape }
    }

    pub fn request(&self, seq: u64) -> Request<Full<Bytes>> {
        let app = format!("BENCH-{}", self.shape.app_of(seq));
        let key = STANDARD.encode(format!("/registry/{app}/inst-{seq}"));
        let value = STANDARD.encode(instance_json(&app, seq, self.shape.lease_secs));
        let body = format!(r#"{{"key":"{key}","value":"{value}"}}"#);
        with_body("POST", "/v3/kv/put", "application/json", body.into_bytes())
    }
}
