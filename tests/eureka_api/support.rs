//! One in-process node and a helper to send requests to its router (shared by the Eureka and
//! ServiceCenter API tests; each uses part of it).

use std::time::Duration;

use axum::body::Body;
use axum::http::HeaderMap;
use axum::http::Method;
use axum::http::Request;
use axum::http::StatusCode;
use registry_http::eureka::mapping::EurekaSettings;
use registry_store::node::NodeConfig;
use registry_store::node::RegistryNode;
use serde_json::json;
use serde_json::Value;
use tempfile::TempDir;
use tower::ServiceExt;

pub struct Node {
    pub node: RegistryNode,
    app: tower_http::normalize_path::NormalizePath<axum::Router>,
    router: axum::Router,
    _dir: TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The `statusCode` of each item of a peer replication batch's answer, in order.
    #[allow(dead_code)] // The ServiceCenter tests share this file.
    pub fn batch_codes(&self) -> Vec<u64> {
        self.json()["responseList"]
            .as_array()
            .unwrap_or_else(|| panic!("no responseList: {}", self.text()))
            .iter()
            .map(|r| r["statusCode"].as_u64().unwrap())
            .collect()
    }
}

impl Node {
    /// `POST /eureka/peerreplication/batch` with `body` as JSON, as a Netflix peer sends it.
    #[allow(dead_code)] // The ServiceCenter tests share this file.
    pub async fn peer_batch(&self, body: impl Into<Body>) -> Reply {
        self.send(
            Method::POST,
            "/eureka/peerreplication/batch",
            &[("content-type", "application/json")],
            body,
        )
        .await
    }

    pub async fn start() -> Node {
        Self::start_with(EurekaSettings::default()).await
    }

    pub async fn start_with(settings: EurekaSettings) -> Node {
        let apis = registry_http::ApiSettings {
            eureka: settings,
            ..Default::default()
        };
        Self::start_custom(apis, |_| {}).await
    }

    /// A node with these API settings and node configuration changes.
    pub async fn start_custom(apis: registry_http::ApiSettings, configure: impl FnOnce(&mut NodeConfig)) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mut config = NodeConfig::new(1, dir.path().join("data"), addr);
        configure(&mut config);
        let node = RegistryNode::start(config, listener).await.unwrap();
        let workers = registry_store::worker::Workers::new();
        for worker in node.workers() {
            workers.start_boxed(worker);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        // Healthy, and its own address announcement applied, so tests see a quiet log.
        while node.health().is_err() || node.read().state.node(1).is_none() {
            assert!(std::time::Instant::now() < deadline, "node never became healthy");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let router = registry_http::router(registry_http::Parts::start(node.clone(), apis, &workers));
        let app = registry_http::app(router.clone());
        Node {
            node,
            app,
            router,
            _dir: dir,
        }
    }

    /// The node's router, to serve it in a test's own way.
    #[allow(dead_code)]
    pub fn router(&self) -> axum::Router {
        self.router.clone()
    }

    /// Serves the router on a real loopback socket (for WebSockets); returns `host:port`.
    #[allow(dead_code)]
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let router = self.router.clone();
        tokio::spawn(registry_http::serve(
            listener,
            registry_http::Listening::default(),
            router,
            std::future::pending(),
        ));
        addr
    }

    pub async fn send(&self, method: Method, uri: &str, headers: &[(&str, &str)], body: impl Into<Body>) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = self
            .app
            .clone()
            .oneshot(request.body(body.into()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), 64 << 20)
            .await
            .unwrap()
            .to_vec();
        Reply { status, headers, body }
    }

    pub async fn get_json(&self, uri: &str) -> Reply {
        self.send(Method::GET, uri, &[("accept", "application/json")], Body::empty())
            .await
    }

    pub async fn get_xml(&self, uri: &str) -> Reply {
        self.send(Method::GET, uri, &[], Body::empty()).await
    }

    pub async fn register_json(&self, app: &str, instance: &Value) -> Reply {
        let body = serde_json::to_vec(&json!({ "instance": instance })).unwrap();
        self.send(
            Method::POST,
            &format!("/eureka/apps/{app}"),
            &[("content-type", "application/json")],
            body,
        )
        .await
    }

    #[allow(dead_code)]
    pub async fn register_xml(&self, app: &str, xml: &str) -> Reply {
        self.send(
            Method::POST,
            &format!("/eureka/v2/apps/{app}"),
            &[("content-type", "application/xml")],
            xml.to_string(),
        )
        .await
    }

    #[allow(dead_code)]
    pub async fn put(&self, uri: &str) -> Reply {
        self.send(Method::PUT, uri, &[], Body::empty()).await
    }

    #[allow(dead_code)]
    pub async fn delete(&self, uri: &str) -> Reply {
        self.send(Method::DELETE, uri, &[], Body::empty()).await
    }
}

/// A Spring-style registration of `app` at `ip:port`.
pub fn instance(app: &str, ip: &str, port: u16) -> Value {
    let lower = app.to_ascii_lowercase();
    json!({
        "instanceId": format!("{ip}:{lower}:{port}"),
        "hostName": ip,
        "app": app.to_ascii_uppercase(),
        "ipAddr": ip,
        "status": "UP",
        "overriddenStatus": "UNKNOWN",
        "port": { "$": port, "@enabled": "true" },
        "securePort": { "$": 443, "@enabled": "false" },
        "countryId": 1,
        "dataCenterInfo": { "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn" },
        "leaseInfo": { "renewalIntervalInSecs": 30, "durationInSecs": 90 },
        "metadata": { "zone": "zone-a" },
        "homePageUrl": format!("http://{ip}:{port}/"),
        "vipAddress": lower,
        "secureVipAddress": lower,
        "lastDirtyTimestamp": "1700000000000"
    })
}

/// The instances of `/apps` (JSON) as (app, instanceId, status) triples.
pub fn listed(apps: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for app in apps["applications"]["application"].as_array().unwrap() {
        for i in app["instance"].as_array().unwrap() {
            out.push((
                app["name"].as_str().unwrap().to_string(),
                i["instanceId"].as_str().unwrap_or_default().to_string(),
                i["status"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

/// The id of the ORDERS instance [`registered_orders`] registers.
#[allow(dead_code)]
pub const ORDERS_ID: &str = "10.0.0.11:orders:8080";

/// A node with one Spring-style ORDERS instance ([`ORDERS_ID`]).
#[allow(dead_code)]
pub async fn registered_orders() -> Node {
    let node = Node::start().await;
    let reply = node
        .register_json("ORDERS", &instance("ORDERS", "10.0.0.11", 8080))
        .await;
    assert_eq!(reply.status, axum::http::StatusCode::NO_CONTENT, "{}", reply.text());
    node
}

/// The ORDERS instance as the node serves it (JSON).
#[allow(dead_code)]
pub async fn orders_instance(node: &Node) -> Value {
    let reply = node.get_json(&format!("/eureka/apps/ORDERS/{ORDERS_ID}")).await;
    assert_eq!(reply.status, axum::http::StatusCode::OK);
    reply.json()["instance"].clone()
}
