//! The routers of all three protocols over one in-memory fake registry
//! (`registry_store::testing::FakeRegistry`): no Raft, no disk, no sockets. Shared by the router
//! tests (`routers.rs`, `nacos_routers.rs`); each uses only some of it.
#![allow(dead_code)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::HeaderMap;
use axum::http::Method;
use axum::http::Request;
use axum::http::StatusCode;
use axum::Router;
use registry_http::eureka;
use registry_http::eureka::delta::DeltaWindow;
use registry_http::nacos;
use registry_http::servicecenter;
use registry_http::servicecenter::DependencyQueue;
use registry_store::registry::Registry;
use registry_store::testing::FakeRegistry;
use serde_json::Value;
use tower::ServiceExt;

/// The Eureka, ServiceCenter and Nacos routers over one fake.
pub struct Front {
    pub fake: Arc<FakeRegistry>,
    pub registry: Arc<dyn Registry>,
    pub dependencies: DependencyQueue,
    pub router: Router,
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

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }
}

impl Front {
    pub fn new() -> Front {
        let fake = FakeRegistry::new();
        let registry: Arc<dyn Registry> = fake.clone();
        let dependencies = DependencyQueue::new(servicecenter::dependency_queue::MAX_HELD);
        let router = eureka::routes(
            registry.clone(),
            Default::default(),
            DeltaWindow::new(eureka::delta::DELTA_RETENTION),
        )
        .merge(servicecenter::routes(
            registry.clone(),
            Default::default(),
            dependencies.clone(),
        ))
        .merge(nacos::routes(registry.clone(), Default::default()));
        Front {
            fake,
            registry,
            dependencies,
            router,
        }
    }

    pub async fn send(&self, method: Method, uri: &str, headers: &[(&str, &str)], body: Body) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self.router.clone().oneshot(request.body(body).unwrap()).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        Reply { status, headers, body }
    }

    /// A Eureka call in JSON.
    pub async fn eureka(&self, method: Method, uri: &str, body: Option<Value>) -> Reply {
        let headers = [("accept", "application/json"), ("content-type", "application/json")];
        self.send(method, &format!("/eureka{uri}"), &headers, json_body(body))
            .await
    }

    pub async fn sc(&self, method: Method, uri: &str, body: Option<Value>) -> Reply {
        self.sc_as(None, method, uri, body).await
    }

    /// A ServiceCenter call in the default tenant, as the consumer `consumer` (`X-ConsumerId`)
    /// if given.
    pub async fn sc_as(&self, consumer: Option<&str>, method: Method, uri: &str, body: Option<Value>) -> Reply {
        let mut headers = vec![("content-type", "application/json"), ("x-domain-name", "default")];
        if let Some(consumer) = consumer {
            headers.push(("x-consumerid", consumer));
        }
        self.send(method, &format!("/v4/default/registry{uri}"), &headers, json_body(body))
            .await
    }

    /// A Nacos call with its parameters in the query string (as nacos-sdk-python sends them).
    pub async fn nacos(&self, method: Method, path: &str, query: &str) -> Reply {
        let uri = format!("/nacos/v1/ns/{path}?{query}");
        self.send(method, &uri, &[], Body::empty()).await
    }

    /// A Nacos call with its parameters in a form body (as Nacos's Java client sends writes).
    pub async fn nacos_form(&self, method: Method, path: &str, form: &str) -> Reply {
        let uri = format!("/nacos/v1/ns/{path}");
        let headers = [("content-type", "application/x-www-form-urlencoded")];
        self.send(method, &uri, &headers, Body::from(form.to_string())).await
    }
}

fn json_body(body: Option<Value>) -> Body {
    body.map_or_else(Body::empty, |b| Body::from(b.to_string()))
}
