//! A follower's stream of forwarded renewals to the leader (`ClusterService.RenewStream`): one
//! gRPC stream per leader, opened on the first batch and kept while that node leads, each batch
//! a message and its answer the next message back. A unary call per batch cost the leader some
//! 80 µs in HTTP/2 work (a new stream, its headers both ways, the trailers, tonic's routing)
//! against under 2 µs per renewal in it; on an open stream a batch is one DATA frame each way.
//!
//! A leader that does not know the RPC (an older version, during a rolling upgrade) answers
//! `Unimplemented`: its batches then go as unary `ForwardHeartbeats` calls, as before, until
//! one fails (it may have restarted on a newer version).

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tonic::Streaming;

use super::peer_refused;
use super::peer_silent;
use super::NodeError;
use crate::raft::types::NodeId;
use crate::transport::auth::MemberChannel;
use crate::transport::pb;
use crate::transport::pb::cluster_service_client::ClusterServiceClient;

/// How long a batch's answer, or the stream's opening, may take.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);

/// The open stream to one leader, if any, and the leader known not to serve streams.
#[derive(Default)]
pub(super) struct RenewLink {
    open: Option<OpenStream>,
    /// The last node that answered `Unimplemented` to a stream: asked by unary calls.
    unary_only: Option<NodeId>,
}

struct OpenStream {
    leader: NodeId,
    batches: mpsc::Sender<pb::ForwardHeartbeatsRequest>,
    answers: Streaming<pb::ForwardHeartbeatsResponse>,
}

impl RenewLink {
    /// Sends `batch` to `leader` and awaits its answer: on the open stream to it (opened
    /// first if there is none, or it goes to another node), or by a unary call to a leader
    /// without streams. A failed stream is dropped; the next batch opens another.
    pub(super) async fn send(
        &mut self,
        leader: NodeId,
        client: &mut ClusterServiceClient<MemberChannel>,
        batch: pb::ForwardHeartbeatsRequest,
    ) -> Result<pb::ForwardHeartbeatsResponse, NodeError> {
        if self.unary_only == Some(leader) {
            let answer = unary(leader, client, batch).await;
            if answer.is_err() {
                // Perhaps restarted, upgraded: the next batch tries a stream again.
                self.unary_only = None;
            }
            return answer;
        }
        if self.open.as_ref().is_none_or(|s| s.leader != leader) {
            self.open = None;
            match open(leader, client).await {
                Ok(stream) => self.open = Some(stream),
                Err(status) if status.code() == Code::Unimplemented => {
                    self.unary_only = Some(leader);
                    return unary(leader, client, batch).await;
                }
                Err(status) => return Err(peer_refused(leader, &status)),
            }
        }
        let stream = self.open.as_mut().expect("opened above");
        let answer = stream.exchange(batch).await;
        if answer.is_err() {
            self.open = None;
        }
        answer
    }
}

impl OpenStream {
    async fn exchange(
        &mut self,
        batch: pb::ForwardHeartbeatsRequest,
    ) -> Result<pb::ForwardHeartbeatsResponse, NodeError> {
        let leader = self.leader;
        let closed = || NodeError::Unavailable(format!("node {leader} closed the renewal stream"));
        self.batches.send(batch).await.map_err(|_| closed())?;
        match tokio::time::timeout(ANSWER_WITHIN, self.answers.message()).await {
            Ok(Ok(Some(answer))) => Ok(answer),
            Ok(Ok(None)) => Err(closed()),
            Ok(Err(status)) => Err(peer_refused(leader, &status)),
            Err(_) => Err(peer_silent(leader)),
        }
    }
}

async fn open(leader: NodeId, client: &mut ClusterServiceClient<MemberChannel>) -> Result<OpenStream, tonic::Status> {
    let (batches, outgoing) = mpsc::channel(1);
    let call = client.renew_stream(ReceiverStream::new(outgoing));
    let answers = match tokio::time::timeout(ANSWER_WITHIN, call).await {
        Ok(answer) => answer?.into_inner(),
        Err(_) => return Err(tonic::Status::unavailable("the renewal stream did not open in time")),
    };
    Ok(OpenStream {
        leader,
        batches,
        answers,
    })
}

async fn unary(
    leader: NodeId,
    client: &mut ClusterServiceClient<MemberChannel>,
    batch: pb::ForwardHeartbeatsRequest,
) -> Result<pb::ForwardHeartbeatsResponse, NodeError> {
    super::call_peer(leader, ANSWER_WITHIN, client.forward_heartbeats(batch)).await
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::future::Ready;
    use std::sync::atomic::AtomicBool;
    use std::sync::atomic::AtomicUsize;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::task::Context;
    use std::task::Poll;

    use futures::future::Either;
    use tokio::net::TcpListener;
    use tokio_stream::wrappers::TcpListenerStream;
    use tonic::codegen::http;
    use tonic::codegen::Service;
    use tonic::server::NamedService;
    use tonic::Status;

    use super::*;
    use crate::transport::auth::MemberCredential;
    use crate::transport::cluster_service::ClusterGrpcService;
    use crate::transport::cluster_service::ClusterHandler;
    use crate::transport::network::MemberChannels;

    /// A leader that knows every instance but those with the id "gone", counting the batches
    /// it answers; while `failing`, it refuses them.
    #[derive(Clone, Default)]
    struct Leader {
        batches: Arc<AtomicUsize>,
        failing: Arc<AtomicBool>,
    }

    #[tonic::async_trait]
    impl ClusterHandler for Leader {
        async fn forward_write(&self, _: pb::ForwardWriteRequest) -> Result<pb::ForwardWriteResponse, Status> {
            Err(Status::unimplemented("not in this test"))
        }

        async fn forward_heartbeats(
            &self,
            request: pb::ForwardHeartbeatsRequest,
        ) -> Result<pb::ForwardHeartbeatsResponse, Status> {
            if self.failing.load(Ordering::SeqCst) {
                return Err(Status::unavailable("failing on purpose"));
            }
            self.batches.fetch_add(1, Ordering::SeqCst);
            Ok(pb::ForwardHeartbeatsResponse {
                found: request.instances.iter().map(|k| k.instance_id != "gone").collect(),
                not_leader: None,
            })
        }

        async fn lease_times(&self, _: pb::LeaseTimesRequest) -> Result<pb::LeaseTimesResponse, Status> {
            Err(Status::unimplemented("not in this test"))
        }

        async fn read_index(&self) -> Result<pb::ReadIndexResponse, Status> {
            Err(Status::unimplemented("not in this test"))
        }

        async fn trigger_election(&self) -> Result<(), Status> {
            Err(Status::unimplemented("not in this test"))
        }

        async fn change_membership(
            &self,
            _: pb::ChangeMembershipRequest,
        ) -> Result<pb::ChangeMembershipResponse, Status> {
            Err(Status::unimplemented("not in this test"))
        }

        async fn identify(&self) -> Result<pb::IdentifyResponse, Status> {
            Err(Status::unimplemented("not in this test"))
        }
    }

    /// The cluster service of a node from before `RenewStream`: the stream is `Unimplemented`,
    /// as tonic answers for a method it does not know.
    #[derive(Clone)]
    struct WithoutStreams<S>(S);

    impl<S: NamedService> NamedService for WithoutStreams<S> {
        const NAME: &'static str = S::NAME;
    }

    impl<S> Service<http::Request<tonic::body::Body>> for WithoutStreams<S>
    where
        S: Service<http::Request<tonic::body::Body>, Response = http::Response<tonic::body::Body>, Error = Infallible>,
    {
        type Response = http::Response<tonic::body::Body>;
        type Error = Infallible;
        type Future = Either<Ready<Result<Self::Response, Infallible>>, S::Future>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            self.0.poll_ready(cx)
        }

        fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
            if request.uri().path().ends_with("/RenewStream") {
                return Either::Left(std::future::ready(Ok(Status::unimplemented("").into_http())));
            }
            Either::Right(self.0.call(request))
        }
    }

    /// Serves `leader` on a loopback port (with or without streams) until the test's runtime
    /// ends; its address, and the count of HTTP/2 requests it received (a unary call or a
    /// stream each).
    async fn serve(leader: Leader, streams: bool) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = requests.clone();
        let mut server = tonic::transport::Server::builder().trace_fn(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
            tracing::Span::none()
        });
        let service = ClusterGrpcService::new(leader, tokio::runtime::Handle::current()).into_server();
        let incoming = TcpListenerStream::new(listener);
        if streams {
            tokio::spawn(server.add_service(service).serve_with_incoming(incoming));
        } else {
            tokio::spawn(
                server
                    .add_service(WithoutStreams(service))
                    .serve_with_incoming(incoming),
            );
        }
        (addr, requests)
    }

    fn batch(ids: &[&str]) -> pb::ForwardHeartbeatsRequest {
        let key = |id: &&str| pb::InstanceKey {
            domain: "default".into(),
            project: "default".into(),
            service_id: "svc".into(),
            instance_id: id.to_string(),
        };
        pb::ForwardHeartbeatsRequest {
            instances: ids.iter().map(key).collect(),
        }
    }

    fn client(addr: &str) -> ClusterServiceClient<MemberChannel> {
        MemberChannels::new(MemberCredential::default(), None)
            .cluster_client(addr)
            .unwrap()
    }

    /// A leader served on a loopback port (with or without streams), the count of its HTTP/2
    /// requests, a client of it and a fresh link.
    async fn connected(streams: bool) -> (Leader, Arc<AtomicUsize>, ClusterServiceClient<MemberChannel>, RenewLink) {
        let leader = Leader::default();
        let (addr, requests) = serve(leader.clone(), streams).await;
        (leader, requests, client(&addr), RenewLink::default())
    }

    /// Sends each of `batches` through `link` to leader 1, checking that each is answered with
    /// its own ids: all found but "gone".
    async fn send_each(link: &mut RenewLink, client: &mut ClusterServiceClient<MemberChannel>, batches: &[Vec<&str>]) {
        for ids in batches {
            let answer = link.send(1, client, batch(ids)).await.unwrap();
            let expected: Vec<bool> = ids.iter().map(|id| *id != "gone").collect();
            assert_eq!(answer.found, expected, "the answer to {ids:?}");
        }
    }

    #[tokio::test]
    async fn batches_share_one_stream_and_each_gets_its_own_answer() {
        let (leader, requests, mut client, mut link) = connected(true).await;
        send_each(
            &mut link,
            &mut client,
            &[vec!["a", "gone", "b"], vec!["gone"], vec!["c"; 300]],
        )
        .await;
        assert_eq!(leader.batches.load(Ordering::SeqCst), 3);
        assert_eq!(requests.load(Ordering::SeqCst), 1, "one stream, no call per batch");
        assert_eq!(link.unary_only, None);
    }

    #[tokio::test]
    async fn a_new_leader_gets_a_stream_of_its_own() {
        let (first, second) = (Leader::default(), Leader::default());
        let (first_addr, first_requests) = serve(first.clone(), true).await;
        let (second_addr, second_requests) = serve(second.clone(), true).await;
        let mut link = RenewLink::default();
        link.send(1, &mut client(&first_addr), batch(&["a"])).await.unwrap();
        link.send(2, &mut client(&second_addr), batch(&["a"])).await.unwrap();
        link.send(2, &mut client(&second_addr), batch(&["b"])).await.unwrap();
        assert_eq!(first.batches.load(Ordering::SeqCst), 1);
        assert_eq!(second.batches.load(Ordering::SeqCst), 2);
        assert_eq!(first_requests.load(Ordering::SeqCst), 1);
        assert_eq!(second_requests.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_leader_without_streams_is_asked_by_unary_calls() {
        let (leader, requests, mut client, mut link) = connected(false).await;
        send_each(&mut link, &mut client, &[vec!["a", "gone"], vec!["b"]]).await;
        assert_eq!(leader.batches.load(Ordering::SeqCst), 2);
        // The refused stream, then one call per batch: the stream is not tried again.
        assert_eq!(requests.load(Ordering::SeqCst), 3);
        assert_eq!(link.unary_only, Some(1));
    }

    #[tokio::test]
    async fn a_failed_unary_call_lets_the_next_batch_try_a_stream_again() {
        let (leader, requests, mut client, mut link) = connected(false).await;
        // The refused stream, then the unary call.
        send_each(&mut link, &mut client, &[vec!["a"]]).await;
        leader.failing.store(true, Ordering::SeqCst);
        assert!(link.send(1, &mut client, batch(&["b"])).await.is_err());
        assert_eq!(link.unary_only, None, "a failed call forgets the leader had no streams");
        leader.failing.store(false, Ordering::SeqCst);
        // A stream tried again (refused: the node still has none), then the unary call.
        send_each(&mut link, &mut client, &[vec!["c"]]).await;
        assert_eq!(requests.load(Ordering::SeqCst), 5);
        assert_eq!(link.unary_only, Some(1));
    }
}
