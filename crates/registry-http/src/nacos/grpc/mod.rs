//! Nacos 2.x over gRPC: the `Request` and `BiRequestStream` services on a listener beside each
//! HTTP listener, at its port + [`DEFAULT_PORT_OFFSET`] (9848 beside 8848), as Nacos clients
//! look for them. The contract, with the Nacos sources, is `docs/nacos.md` ("Nacos 2.x over
//! gRPC").
//!
//! - [`proto`]: the generated code of `proto/nacos_grpc.proto`.
//! - [`codec`]: payloads (JSON body, type in the metadata) and `ErrorResponse`;
//!   [`messages`]: the request and response bodies.
//! - [`handlers`]: each request type over the Nacos operations ([`crate::nacos::ops`]);
//!   [`service`]: the two gRPC services.
//! - [`connections`]: the live connections, their leases and subscriptions; [`leases`]: the
//!   worker renewing those leases; [`push`]: the worker pushing changes to subscribers.

pub mod codec;
pub mod connections;
pub mod handlers;
pub mod leases;
pub mod messages;
pub mod push;
pub mod service;

/// Generated protobuf and gRPC code for `proto/nacos_grpc.proto` (no package, as Nacos's).
pub mod proto {
    #![allow(clippy::all, missing_docs, non_camel_case_types)]
    tonic::include_proto!("_");
}

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use registry_store::registry::Registry;
use registry_store::worker::Workers;
use tokio::net::TcpListener;

use self::connections::Connections;
use self::handlers::Handlers;
use self::service::NacosService;
use crate::nacos::mapping::NacosSettings;
use crate::nacos::ops::Nacos;

/// Nacos's `Constants.SDK_GRPC_PORT_DEFAULT_OFFSET`: the gRPC port is the HTTP port + 1000.
pub const DEFAULT_PORT_OFFSET: u16 = 1000;
/// HTTP/2 pings on a quiet connection, so a client gone without closing it is noticed.
const KEEPALIVE: Duration = Duration::from_secs(10);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);
/// Concurrent HTTP/2 streams (requests) per connection.
const MAX_STREAMS: u32 = 64;

/// The gRPC front: one set of connections and handlers, served on any number of listeners.
#[derive(Clone)]
pub struct NacosGrpc {
    handlers: Arc<Handlers>,
}

impl NacosGrpc {
    /// The front over `registry`, with its workers (lease renewals, pushes) started under
    /// `workers`.
    pub fn start(registry: Arc<dyn Registry>, settings: NacosSettings, workers: &Workers) -> Self {
        let handlers = Arc::new(Handlers {
            nacos: Arc::new(Nacos::new(registry.clone(), settings)),
            registry: registry.clone(),
            connections: Arc::new(Connections::default()),
        });
        workers.start(leases::LeaseHolder {
            registry,
            connections: handlers.connections.clone(),
        });
        workers.start(push::Pusher {
            handlers: handlers.clone(),
        });
        Self { handlers }
    }

    /// The live connections.
    pub fn connections(&self) -> &Arc<Connections> {
        &self.handlers.connections
    }

    /// Serves both services on `listener` until `shutdown` completes.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), tonic::transport::Error> {
        let connections = self.handlers.connections.clone();
        let shutdown = async move {
            shutdown.await;
            // Ends the streams, which a graceful shutdown would otherwise wait for.
            connections.close_all();
        };
        let service = NacosService {
            handlers: self.handlers,
        };
        let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(KEEPALIVE))
            .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
            // A client keeps one stream and a request or two in flight.
            .max_concurrent_streams(Some(MAX_STREAMS))
            .concurrency_limit_per_connection(MAX_STREAMS as usize)
            .add_service(proto::request_server::RequestServer::new(service.clone()))
            .add_service(proto::bi_request_stream_server::BiRequestStreamServer::new(service))
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
    }
}
