//! ServiceCenter v4 requests (project `default`): services `bench-{app}` with fixed ids, instances
//! with fixed ids, heartbeats, and find with or without `rev`.

use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper::StatusCode;

use super::bodiless;
use super::send_all;
use super::with_body;
use super::Op;
use super::Shape;
use crate::conn::Conn;
use crate::error::BenchError;

const ROOT: &str = "/v4/default/registry";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScOp {
    Register,
    Heartbeat,
    Find,
    FindRev,
}

impl ScOp {
    pub fn from(op: Op) -> Option<ScOp> {
        Some(match op {
            Op::Register => ScOp::Register,
            Op::Heartbeat => ScOp::Heartbeat,
            Op::Find => ScOp::Find,
            Op::FindRev => ScOp::FindRev,
            _ => return None,
        })
    }
}

pub struct ServiceCenter {
    op: ScOp,
    shape: Shape,
    /// Each app's find revision, learnt in `prepare` (find-rev only).
    revisions: Mutex<Vec<String>>,
}

impl ServiceCenter {
    pub fn new(op: ScOp, shape: Shape) -> ServiceCenter {
        ServiceCenter {
            op,
            shape,
            revisions: Mutex::new(Vec::new()),
        }
    }

    /// Creates the services, registers the instances (unless the operation does), and for
    /// find-rev learns each app's revision.
    pub async fn prepare(&self, conns: &mut [Conn]) -> Result<(), BenchError> {
        let services = (0..self.shape.apps).map(|a| self.create_service(a));
        send_all(conns, "servicecenter create service", services, |s| s.is_success()).await?;
        if self.op != ScOp::Register {
            let instances = (0..self.shape.instances).map(|n| self.register(n));
            send_all(conns, "servicecenter register", instances, |s| s.is_success()).await?;
        }
        if self.op == ScOp::FindRev {
            let mut revisions = Vec::new();
            for a in 0..self.shape.apps {
                let answer = conns[0].send(find(a, None)).await?;
                let rev = answer
                    .headers()
                    .get("X-Resource-Revision")
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| BenchError::Setup("find answered without X-Resource-Revision".into()))?;
                revisions.push(rev.to_string());
            }
            *self.revisions.lock().expect("not poisoned") = revisions;
        }
        Ok(())
    }

    pub fn request(&self, seq: u64) -> Request<Full<Bytes>> {
        let n = self.shape.instance(seq);
        let app = self.shape.app_of(n);
        match self.op {
            ScOp::Register => self.register(seq),
            ScOp::Heartbeat => bodiless(
                "PUT",
                &format!(
                    "{ROOT}/microservices/{}/instances/{}/heartbeat",
                    service_id(app),
                    instance_id(n)
                ),
                "application/json",
            ),
            ScOp::Find => find(app, None),
            ScOp::FindRev => {
                let rev = self.revisions.lock().expect("not poisoned").get(app as usize).cloned();
                find(app, rev.as_deref())
            }
        }
    }

    pub fn accepts(&self, status: StatusCode) -> bool {
        status.is_success() || (self.op == ScOp::FindRev && status == StatusCode::NOT_MODIFIED)
    }

    fn create_service(&self, app: u64) -> Request<Full<Bytes>> {
        let body = format!(
            r#"{{"service":{{"serviceId":"{}","appId":"bench","serviceName":"bench-{app}","version":"1.0.0","level":"BACK","status":"UP"}}}}"#,
            service_id(app)
        );
        with_body(
            "POST",
            &format!("{ROOT}/microservices"),
            "application/json",
            body.into_bytes(),
        )
    }

    /// Registration of instance `n` into its app's service.
    pub fn register(&self, n: u64) -> Request<Full<Bytes>> {
        let app = self.shape.app_of(n);
        // SC's lease is interval × (times + 1).
        let interval = (self.shape.lease_secs / 4).max(1);
        let body = format!(
            r#"{{"instance":{{"instanceId":"{id}","hostName":"host-{n}","endpoints":["rest://10.{}.{}.{}:8080"],"status":"UP","properties":{{"zone":"zone-a"}},"healthCheck":{{"mode":"push","interval":{interval},"times":3}}}}}}"#,
            (n >> 16) & 255,
            (n >> 8) & 255,
            n & 255,
            id = instance_id(n),
        );
        with_body(
            "POST",
            &format!("{ROOT}/microservices/{}/instances", service_id(app)),
            "application/json",
            body.into_bytes(),
        )
    }
}

fn find(app: u64, rev: Option<&str>) -> Request<Full<Bytes>> {
    let mut uri = format!("{ROOT}/instances?appId=bench&serviceName=bench-{app}&version=latest");
    if let Some(rev) = rev {
        uri.push_str("&rev=");
        uri.push_str(rev);
    }
    bodiless("GET", &uri, "application/json")
}

/// App `app`'s service id.
pub fn service_id(app: u64) -> String {
    format!("bench-svc-{app}")
}

/// Instance `n`'s id.
pub fn instance_id(n: u64) -> String {
    format!("bench-inst-{n}")
}
