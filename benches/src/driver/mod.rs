//! Protocol drivers: what one request of a workload looks like for each registry protocol and
//! baseline, and what a workload must set up before it is measured.
//!
//! A workload is a protocol and an operation. Request `seq` of an operation always names the same
//! instance (`seq % instances`) and app (`instance % apps`), so any number of workers can share one
//! workload without coordination.

pub mod etcd;
pub mod eureka;
pub mod nacos;
pub mod plain;
pub mod servicecenter;

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper::StatusCode;

use crate::conn::Conn;
use crate::error::BenchError;

/// The wire protocol a workload speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    EurekaJson,
    EurekaXml,
    ServiceCenter,
    /// The Nacos naming Open API v1 (ours on 8848, or r-nacos).
    Nacos,
    /// The etcd v3 HTTP gateway (a baseline).
    Etcd,
    /// Plain HTTP GET (a baseline).
    Plain,
}

/// What each request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Registers a new instance per request.
    Register,
    /// Renews one of the prepared instances' leases.
    Heartbeat,
    /// Eureka full registry (`/apps`).
    Apps,
    /// Eureka delta (`/apps/delta`).
    Delta,
    /// Eureka one app (`/apps/{app}`).
    App,
    /// ServiceCenter find, without a revision.
    Find,
    /// ServiceCenter find passing the last revision (answered 304 while nothing changed).
    FindRev,
    /// Nacos instance list of one service.
    List,
    /// etcd put.
    Put,
    /// Plain GET.
    Get,
}

/// How many instances and apps a workload spreads over, and their lease.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub instances: u64,
    pub apps: u64,
    pub lease_secs: u32,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            instances: 1_000,
            apps: 100,
            lease_secs: 90,
        }
    }
}

impl Shape {
    pub fn instance(&self, seq: u64) -> u64 {
        seq % self.instances.max(1)
    }

    pub fn app_of(&self, instance: u64) -> u64 {
        instance % self.apps.max(1)
    }
}

/// One protocol's requests.
pub enum Workload {
    Eureka(eureka::Eureka),
    ServiceCenter(servicecenter::ServiceCenter),
    Nacos(nacos::Nacos),
    Etcd(etcd::Etcd),
    Plain(plain::Plain),
}

impl Workload {
    /// The workload for `op` over `protocol`; an error if the protocol has no such operation.
    pub fn new(protocol: Protocol, op: Op, shape: Shape, path: &str) -> Result<Workload, BenchError> {
        let unsupported = || BenchError::Setup(format!("{protocol} has no {op} operation"));
        Ok(match protocol {
            Protocol::EurekaJson | Protocol::EurekaXml => {
                let op = eureka::EurekaOp::from(op).ok_or_else(unsupported)?;
                Workload::Eureka(eureka::Eureka::new(protocol == Protocol::EurekaXml, op, shape))
            }
            Protocol::ServiceCenter => {
                let op = servicecenter::ScOp::from(op).ok_or_else(unsupported)?;
                Workload::ServiceCenter(servicecenter::ServiceCenter::new(op, shape))
            }
            Protocol::Nacos => {
                let op = nacos::NacosOp::from(op).ok_or_else(unsupported)?;
                Workload::Nacos(nacos::Nacos::new(op, shape))
            }
            Protocol::Etcd if op == Op::Put => Workload::Etcd(etcd::Etcd::new(shape)),
            Protocol::Plain if op == Op::Get => Workload::Plain(plain::Plain::new(path)),
            _ => return Err(unsupported()),
        })
    }

    /// Registers what the measured requests need (the instances heartbeats renew or reads find),
    /// spread over `conns`.
    pub async fn prepare(&self, conns: &mut [Conn]) -> Result<(), BenchError> {
        match self {
            Workload::Eureka(w) => w.prepare(conns).await,
            Workload::ServiceCenter(w) => w.prepare(conns).await,
            Workload::Nacos(w) => w.prepare(conns).await,
            Workload::Etcd(_) | Workload::Plain(_) => Ok(()),
        }
    }

    /// Request number `seq`.
    pub fn request(&self, seq: u64) -> Request<Full<Bytes>> {
        match self {
            Workload::Eureka(w) => w.request(seq),
            Workload::ServiceCenter(w) => w.request(seq),
            Workload::Nacos(w) => w.request(seq),
            Workload::Etcd(w) => w.request(seq),
            Workload::Plain(w) => w.request(),
        }
    }

    /// Whether `status` is a success for this workload.
    pub fn accepts(&self, status: StatusCode) -> bool {
        match self {
            Workload::ServiceCenter(w) => w.accepts(status),
            _ => status.is_success(),
        }
    }
}

/// Sends `requests` over `conns` (each connection takes every n-th), failing on the first error.
pub async fn send_all(
    conns: &mut [Conn],
    what: &str,
    requests: impl Iterator<Item = Request<Full<Bytes>>>,
    ok: impl Fn(StatusCode) -> bool,
) -> Result<(), BenchError> {
    let width = conns.len().max(1);
    let mut lanes: Vec<Vec<Request<Full<Bytes>>>> = (0..width).map(|_| Vec::new()).collect();
    for (i, r) in requests.enumerate() {
        lanes[i % width].push(r);
    }
    let sends = conns.iter_mut().zip(lanes).map(|(conn, lane)| {
        let ok = &ok;
        async move {
            for request in lane {
                conn.send_expecting(request, what, ok).await?;
            }
            Ok::<(), BenchError>(())
        }
    });
    futures::future::try_join_all(sends).await?;
    Ok(())
}

/// A request with a body.
pub(crate) fn with_body(method: &str, uri: &str, content_type: &str, body: Vec<u8>) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(hyper::header::CONTENT_TYPE, content_type)
        .header(hyper::header::ACCEPT, "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("static request parts are valid")
}

/// A request without a body, accepting `accept`.
pub(crate) fn bodiless(method: &str, uri: &str, accept: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(hyper::header::ACCEPT, accept)
        .body(Full::new(Bytes::new()))
        .expect("static request parts are valid")
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::EurekaJson => "eureka-json",
            Protocol::EurekaXml => "eureka-xml",
            Protocol::ServiceCenter => "servicecenter",
            Protocol::Nacos => "nacos",
            Protocol::Etcd => "etcd",
            Protocol::Plain => "plain",
        })
    }
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "eureka-json" | "eureka" => Protocol::EurekaJson,
            "eureka-xml" => Protocol::EurekaXml,
            "servicecenter" | "sc" => Protocol::ServiceCenter,
            "nacos" => Protocol::Nacos,
            "etcd" => Protocol::Etcd,
            "plain" | "http" => Protocol::Plain,
            _ => {
                return Err(format!(
                    "unknown protocol {s:?} (eureka-json, eureka-xml, servicecenter, nacos, etcd, plain)"
                ))
            }
        })
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Register => "register",
            Op::Heartbeat => "heartbeat",
            Op::Apps => "apps",
            Op::Delta => "delta",
            Op::App => "app",
            Op::Find => "find",
            Op::FindRev => "find-rev",
            Op::List => "list",
            Op::Put => "put",
            Op::Get => "get",
        })
    }
}

impl FromStr for Op {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "register" => Op::Register,
            "heartbeat" => Op::Heartbeat,
            "apps" => Op::Apps,
            "delta" => Op::Delta,
            "app" => Op::App,
            "find" => Op::Find,
            "find-rev" => Op::FindRev,
            "list" => Op::List,
            "put" => Op::Put,
            "get" => Op::Get,
            _ => return Err(format!("unknown operation {s:?}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_mismatches_are_refused() {
        for p in ["eureka-json", "eureka-xml", "servicecenter", "nacos", "etcd", "plain"] {
            assert_eq!(p.parse::<Protocol>().unwrap().to_string(), p);
        }
        for o in [
            "register",
            "heartbeat",
            "apps",
            "delta",
            "app",
            "find",
            "find-rev",
            "list",
            "put",
            "get",
        ] {
            assert_eq!(o.parse::<Op>().unwrap().to_string(), o);
        }
        assert!(Workload::new(Protocol::Etcd, Op::Heartbeat, Shape::default(), "/").is_err());
        assert!(Workload::new(Protocol::EurekaJson, Op::Find, Shape::default(), "/").is_err());
        assert!(Workload::new(Protocol::ServiceCenter, Op::Find, Shape::default(), "/").is_ok());
        assert!(Workload::new(Protocol::Nacos, Op::List, Shape::default(), "/").is_ok());
        assert!(Workload::new(Protocol::Nacos, Op::Apps, Shape::default(), "/").is_err());
    }

    #[test]
    fn requests_cycle_over_the_instances() {
        let shape = Shape {
            instances: 10,
            apps: 3,
            lease_secs: 90,
        };
        let w = Workload::new(Protocol::EurekaJson, Op::Heartbeat, shape, "/").unwrap();
        assert_eq!(w.request(3).uri(), w.request(13).uri());
        assert_ne!(w.request(3).uri(), w.request(4).uri());
    }
}
