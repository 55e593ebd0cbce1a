//! Eureka REST requests, JSON or XML, as Eureka's own Java client sends them. Paths are relative
//! to the Eureka root the target names (`http://host:port/eureka` or `/eureka/v2`).

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;

use super::bodiless;
use super::send_all;
use super::with_body;
use super::Op;
use super::Shape;
use crate::conn::Conn;
use crate::error::BenchError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EurekaOp {
    Register,
    Heartbeat,
    Apps,
    Delta,
    App,
}

impl EurekaOp {
    pub fn from(op: Op) -> Option<EurekaOp> {
        Some(match op {
            Op::Register => EurekaOp::Register,
            Op::Heartbeat => EurekaOp::Heartbeat,
            Op::Apps => EurekaOp::Apps,
            Op::Delta => EurekaOp::Delta,
            Op::App => EurekaOp::App,
            _ => return None,
        })
    }
}

pub struct Eureka {
    xml: bool,
    op: EurekaOp,
    shape: Shape,
}

impl Eureka {
    pub fn new(xml: bool, op: EurekaOp, shape: Shape) -> Eureka {
        Eureka { xml, op, shape }
    }

    fn media(&self) -> &'static str {
        if self.xml {
            "application/xml"
        } else {
            "application/json"
        }
    }

    /// Registers every instance of the shape unless the operation registers its own.
    pub async fn prepare(&self, conns: &mut [Conn]) -> Result<(), BenchError> {
        if self.op == EurekaOp::Register {
            return Ok(());
        }
        let requests = (0..self.shape.instances).map(|n| self.register(n));
        send_all(conns, "eureka register", requests, |s| s.is_success()).await
    }

    pub fn request(&self, seq: u64) -> Request<Full<Bytes>> {
        match self.op {
            EurekaOp::Register => self.register(seq),
            EurekaOp::Heartbeat => {
                let n = self.shape.instance(seq);
                let uri = format!(
                    "/apps/{}/{}?status=UP&lastDirtyTimestamp=1",
                    app_name(&self.shape, n),
                    id(n)
                );
                bodiless("PUT", &uri, self.media())
            }
            EurekaOp::Apps => bodiless("GET", "/apps", self.media()),
            EurekaOp::Delta => bodiless("GET", "/apps/delta", self.media()),
            EurekaOp::App => {
                let n = self.shape.instance(seq);
                bodiless("GET", &format!("/apps/{}", app_name(&self.shape, n)), self.media())
            }
        }
    }

    /// Registration of instance `n` (not reduced modulo the shape: a storm registers new ones).
    pub fn register(&self, n: u64) -> Request<Full<Bytes>> {
        let app = app_name(&self.shape, n);
        let body = if self.xml {
            instance_xml(&app, n, self.shape.lease_secs)
        } else {
            instance_json(&app, n, self.shape.lease_secs)
        };
        with_body("POST", &format!("/apps/{app}"), self.media(), body.into_bytes())
    }
}

/// The app instance `n` belongs to.
pub fn app_name(shape: &Shape, n: u64) -> String {
    format!("BENCH-{}", shape.app_of(n))
}

/// Instance `n`'s id.
pub fn id(n: u64) -> String {
    format!("inst-{n}")
}

fn ip(n: u64) -> String {
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

/// The JSON body the Java client sends (`{"instance": {...}}`).
pub fn instance_json(app: &str, n: u64, lease_secs: u32) -> String {
    let (id, ip) = (id(n), ip(n));
    format!(
        r#"{{"instance":{{"instanceId":"{id}","hostName":"{ip}","app":"{app}","ipAddr":"{ip}","status":"UP","overriddenStatus":"UNKNOWN","port":{{"$":8080,"@enabled":"true"}},"securePort":{{"$":443,"@enabled":"false"}},"countryId":1,"dataCenterInfo":{{"@class":"com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo","name":"MyOwn"}},"leaseInfo":{{"renewalIntervalInSecs":30,"durationInSecs":{lease_secs}}},"metadata":{{"zone":"zone-a","version":"1.0.0"}},"homePageUrl":"http://{ip}:8080/","statusPageUrl":"http://{ip}:8080/info","healthCheckUrl":"http://{ip}:8080/health","vipAddress":"{app}","secureVipAddress":"{app}","isCoordinatingDiscoveryServer":"false","lastUpdatedTimestamp":"1","lastDirtyTimestamp":"1"}}}}"#
    )
}

/// The XML body the Java client sends (`<instance>...</instance>`).
pub fn instance_xml(app: &str, n: u64, lease_secs: u32) -> String {
    let (id, ip) = (id(n), ip(n));
    format!(
        r#"<instance><instanceId>{id}</instanceId><hostName>{ip}</hostName><app>{app}</app><ipAddr>{ip}</ipAddr><status>UP</status><overriddenstatus>UNKNOWN</overriddenstatus><port enabled="true">8080</port><securePort enabled="false">443</securePort><countryId>1</countryId><dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"><name>MyOwn</name></dataCenterInfo><leaseInfo><renewalIntervalInSecs>30</renewalIntervalInSecs><durationInSecs>{lease_secs}</durationInSecs></leaseInfo><metadata><zone>zone-a</zone><version>1.0.0</version></metadata><homePageUrl>http://{ip}:8080/</homePageUrl><statusPageUrl>http://{ip}:8080/info</statusPageUrl><healthCheckUrl>http://{ip}:8080/health</healthCheckUrl><vipAddress>{app}</vipAddress><secureVipAddress>{app}</secureVipAddress><isCoordinatingDiscoveryServer>false</isCoordinatingDiscoveryServer><lastUpdatedTimestamp>1</lastUpdatedTimestamp><lastDirtyTimestamp>1</lastDirtyTimestamp></instance>"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_body_is_valid_json() {
        let v: serde_json::Value = serde_json::from_str(&instance_json("BENCH-1", 70_000, 90)).unwrap();
        assert_eq!(v["instance"]["ipAddr"], "10.1.17.112");
        assert_eq!(v["instance"]["leaseInfo"]["durationInSecs"], 90);
    }
}
