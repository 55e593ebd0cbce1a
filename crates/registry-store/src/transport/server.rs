//! The gRPC server a member serves to the others: the Raft RPCs and the cluster RPCs on one
//! listener, behind the cluster-secret check and, when configured, mutual TLS.

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tonic::service::interceptor::InterceptedService;

use super::auth;
use super::auth::ClusterSecret;
use super::auth::MemberCheck;
use super::auth::MemberTls;
use super::cluster_service::ClusterGrpcService;
use super::cluster_service::ClusterHandler;
use super::raft_service::RaftGrpcService;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[error("TLS between nodes: {0}")]
pub struct ServeError(#[from] tonic::transport::Error);

/// Serves both services on `listener` until `stop` turns true; the task ends then. The server
/// runs on the current runtime; the cluster RPCs' handlers run on `work`.
pub fn serve(
    listener: TcpListener,
    work: tokio::runtime::Handle,
    raft: RaftGrpcService,
    cluster: impl ClusterHandler,
    secret: Option<&ClusterSecret>,
    tls: Option<&MemberTls>,
    mut stop: watch::Receiver<bool>,
) -> Result<JoinHandle<()>, ServeError> {
    let check = MemberCheck::new(secret);
    let raft_service = InterceptedService::new(raft.into_server(), check.clone());
    let cluster_service = InterceptedService::new(ClusterGrpcService::new(cluster, work).into_server(), check);
    // The builder's `tcp_nodelay` covers only listeners tonic binds itself. Without it, a
    // reply's last segment waits for the peer's delayed ACK: 40 ms on every Raft RPC.
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).map(|conn| {
        if let Ok(Err(e)) = conn.as_ref().map(|c| c.set_nodelay(true)) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        conn
    });
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        builder = builder.tls_config(auth::server_tls(tls))?;
    }
    Ok(tokio::spawn(async move {
        let served = builder
            .add_service(raft_service)
            .add_service(cluster_service)
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "raft gRPC server failed");
        }
    }))
}
