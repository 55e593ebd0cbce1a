//! The two gRPC services Nacos 2.x clients call, over [`Handlers`]: `Request/request` answers
//! one payload; `BiRequestStream/requestBiStream` is the connection's stream, set up by its
//! first `ConnectionSetupRequest`, carrying the server's pushes out and the client's answers in
//! (`core/.../remote/grpc/GrpcBiStreamRequestAcceptor.java`). The connection ends with the
//! stream.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Request;
use tonic::Response;
use tonic::Status;
use tonic::Streaming;

use super::codec::Incoming;
use super::connections::PUSH_QUEUE;
use super::handlers::Handlers;
use super::messages::ConnectionSetupRequest;
use super::proto::bi_request_stream_server::BiRequestStream;
use super::proto::request_server;
use super::proto::Payload;

/// Both services, sharing the handlers.
#[derive(Clone)]
pub struct NacosService {
    pub handlers: Arc<Handlers>,
}

fn remote_of<T>(request: &Request<T>) -> Result<SocketAddr, Status> {
    request
        .remote_addr()
        .ok_or_else(|| Status::failed_precondition("the connection's address is unknown"))
}

#[tonic::async_trait]
impl request_server::Request for NacosService {
    async fn request(&self, request: Request<Payload>) -> Result<Response<Payload>, Status> {
        let remote = remote_of(&request)?;
        let answer = self.handlers.handle(remote, request.get_ref()).await;
        Ok(Response::new(answer))
    }
}

type PayloadStream = Pin<Box<dyn Stream<Item = Result<Payload, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl BiRequestStream for NacosService {
    type requestBiStreamStream = PayloadStream;

    async fn request_bi_stream(
        &self,
        request: Request<Streaming<Payload>>,
    ) -> Result<Response<Self::requestBiStreamStream>, Status> {
        let remote = remote_of(&request)?;
        let mut inbound = request.into_inner();
        let (push, outbound) = mpsc::channel::<Payload>(PUSH_QUEUE);
        let connections = self.handlers.connections.clone();
        tokio::spawn(async move {
            // Handed to the connection at its setup: the connections hold the only sender, so
            // dropping the connection (idle, shutdown) ends the outbound stream.
            let mut push = Some(push);
            let mut id: Option<String> = None;
            while let Some(Ok(payload)) = inbound.next().await {
                let incoming = Incoming::of(&payload);
                if incoming.kind == "ConnectionSetupRequest" {
                    // Read for its shape only: this registry keeps no labels or versions.
                    if let (Ok(_), Some(push)) = (incoming.read::<ConnectionSetupRequest>(), push.take()) {
                        match connections.setup(remote, push) {
                            Ok(set_up) => {
                                id = Some(set_up);
                                tracing::debug!(%remote, "Nacos gRPC connection set up");
                            }
                            // Past the limits: the stream ends (its sender dropped), the client
                            // tries another server.
                            Err(e) => {
                                tracing::debug!(%remote, error = %e.message, "Nacos gRPC connection refused");
                                break;
                            }
                        }
                    }
                    continue;
                }
                // Answers to pushes and detections (`NotifySubscriberResponse`, ...): the
                // client is there.
                connections.heard_from(remote);
            }
            if let Some(id) = id {
                connections.close(remote, &id);
                tracing::debug!(%remote, "Nacos gRPC connection closed");
            }
        });
        let stream = ReceiverStream::new(outbound).map(Ok::<_, Status>);
        Ok(Response::new(Box::pin(stream)))
    }
}
