//! The serving side of the `cluster` peer kind: `Follow` streams this cluster's change feed for
//! one tenant to another cluster of ours. It starts with a complete listing when the follower
//! has no revision or one older than the feed's history, sends changes as they commit, batched,
//! and a keep-alive frame when idle. Records are stamped with this cluster's hop; those whose
//! path names the follower are left out (they came from it).

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use registry_store::change::Change;
use registry_store::change::ChangeKind;
use registry_store::feed::FeedError;
use registry_store::feed::Subscription;
use registry_store::model::Instance;
use registry_store::model::Revision;
use registry_store::model::Service;
use registry_store::model::ServiceRef;
use registry_store::model::Tenant;
use registry_store::node::RegistryNode;
use registry_store::record::Entity;
use registry_store::state::RegistryState;
use registry_store::storage::codec;
use smol_str::SmolStr;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Request;
use tonic::Response;
use tonic::Status;

use crate::hops;
use crate::pb;
use crate::pb::federation_server::Federation;
use crate::pb::federation_server::FederationServer;

/// An idle stream sends a frame this often, so the follower knows the peer is alive.
pub const KEEPALIVE: Duration = Duration::from_secs(3);
/// Most changes batched into one frame.
const MAX_CHANGES_PER_FRAME: usize = 2_000;
/// Most instances in one frame of a complete listing.
const LISTING_CHUNK: usize = 5_000;
/// Largest frame either side accepts.
pub const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

/// The `Federation` gRPC service of this node.
#[derive(Clone)]
pub struct FollowService {
    node: RegistryNode,
    cluster: String,
}

impl FollowService {
    pub fn new(node: RegistryNode, cluster: String) -> Self {
        Self { node, cluster }
    }

    /// The service as a tower service, to mount on an HTTP router.
    pub fn into_server(self) -> FederationServer<Self> {
        FederationServer::new(self)
            .max_decoding_message_size(MAX_FRAME_BYTES)
            .max_encoding_message_size(MAX_FRAME_BYTES)
    }
}

#[tonic::async_trait]
impl Federation for FollowService {
    type FollowStream = ReceiverStream<Result<pb::FeedFrame, Status>>;

    async fn follow(&self, request: Request<pb::FollowRequest>) -> Result<Response<Self::FollowStream>, Status> {
        let req = request.into_inner();
        let tenant = Tenant::parse(&req.tenant)
            .ok_or_else(|| Status::invalid_argument(format!("tenant {:?} is not domain/project", req.tenant)))?;
        if req.follower_cluster.trim().is_empty() {
            return Err(Status::invalid_argument("follower_cluster is required"));
        }
        if req.follower_cluster == self.cluster {
            return Err(Status::failed_precondition(format!(
                "both clusters are named {:?}: give each its own cluster_name",
                self.cluster
            )));
        }
        let (tx, rx) = mpsc::channel(8);
        let stream = FeedStream {
            node: self.node.clone(),
            cluster: self.cluster.clone(),
            tenant,
            follower: req.follower_cluster,
            tx,
        };
        tokio::spawn(stream.run(req.after_revision));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// One follower's stream.
struct FeedStream {
    node: RegistryNode,
    cluster: String,
    tenant: Tenant,
    follower: String,
    tx: mpsc::Sender<Result<pb::FeedFrame, Status>>,
}

impl FeedStream {
    async fn run(self, after: Revision) {
        let resumed = if after == 0 {
            None
        } else {
            self.node.subscribe(after).ok().map(|s| (s, after))
        };
        let Some((mut sub, mut position)) = (match resumed {
            Some(r) => Some(r),
            None => self.send_listing().await,
        }) else {
            return;
        };
        let mut keepalive = tokio::time::interval(KEEPALIVE);
        keepalive.tick().await;
        loop {
            tokio::select! {
                _ = self.tx.closed() => return,
                _ = keepalive.tick() => {
                    if self.tx.send(Ok(self.frame(position))).await.is_err() {
                        return;
                    }
                }
                next = sub.next() => {
                    let mut changes = match next {
                        Ok(change) => vec![change],
                        Err(FeedError::Compacted { .. }) => {
                            match self.send_listing().await {
                                Some((s, p)) => (sub, position) = (s, p),
                                None => return,
                            }
                            continue;
                        }
                        Err(_) => return,
                    };
                    while changes.len() < MAX_CHANGES_PER_FRAME {
                        match sub.next().now_or_never() {
                            Some(Ok(change)) => changes.push(change),
                            _ => break,
                        }
                    }
                    // The last revision may have more changes still to come (a batch cut at
                    // the frame limit, or published while we read): the follower resumes just
                    // before it, and repeats are harmless.
                    position = changes.last().map_or(position, |c| c.revision.saturating_sub(1)).max(position);
                    let frame = self.changes_frame(&changes, position);
                    let has_content = !frame.instances.is_empty() || !frame.removed.is_empty() || !frame.services.is_empty();
                    if has_content {
                        if self.tx.send(Ok(frame)).await.is_err() {
                            return;
                        }
                        keepalive.reset();
                    }
                }
            }
        }
    }

    /// An empty frame at `revision`, with this cluster's node addresses from `state`.
    fn frame_from(&self, state: &RegistryState, revision: Revision) -> pb::FeedFrame {
        let nodes = state
            .nodes()
            .flat_map(|n| n.http_addrs.iter().map(|a| format!("http://{a}")))
            .collect();
        pb::FeedFrame {
            cluster: self.cluster.clone(),
            revision,
            nodes,
            ..pb::FeedFrame::default()
        }
    }

    /// An empty frame at `revision` (takes the state's read lock: never call it holding one).
    fn frame(&self, revision: Revision) -> pb::FeedFrame {
        self.frame_from(&self.node.read().state, revision)
    }

    /// Sends every service and instance of the tenant, in chunks of instances (the first with
    /// the services, the last with `more` false); returns a subscription from the listing's
    /// revision.
    async fn send_listing(&self) -> Option<(Subscription, Revision)> {
        let (frames, sub, revision) = {
            let applied = self.node.read();
            let revision = applied.revision();
            let sub = self.node.subscribe(revision).ok()?;
            let state = &applied.state;
            let instances: Vec<Vec<u8>> = state
                .instances()
                .filter(|i| i.tenant == self.tenant)
                .filter_map(|i| self.outgoing(i))
                .collect();
            let chunks: Vec<&[Vec<u8>]> = if instances.is_empty() {
                vec![&[]]
            } else {
                instances.chunks(LISTING_CHUNK).collect()
            };
            let last = chunks.len() - 1;
            let mut frames: Vec<pb::FeedFrame> = chunks
                .into_iter()
                .enumerate()
                .map(|(n, chunk)| pb::FeedFrame {
                    complete: true,
                    more: n < last,
                    instances: chunk.to_vec(),
                    ..self.frame_from(state, revision)
                })
                .collect();
            frames[0].services = state
                .services()
                .filter(|s| s.tenant == self.tenant)
                .filter_map(|s| codec::encode(&**s).ok())
                .collect();
            (frames, sub, revision)
        };
        for frame in frames {
            self.tx.send(Ok(frame)).await.ok()?;
        }
        Some((sub, revision))
    }

    /// A frame of the changes that concern the tenant, with the services their instances need.
    fn changes_frame(&self, changes: &[Arc<Change>], revision: Revision) -> pb::FeedFrame {
        let applied = self.node.read();
        let mut frame = self.frame_from(&applied.state, revision);
        // The latest version of each service the changes touched.
        let mut services: BTreeMap<SmolStr, Arc<Service>> = BTreeMap::new();
        let mut needed: BTreeSet<SmolStr> = BTreeSet::new();
        for change in changes {
            match (&change.entity, change.kind) {
                (Entity::Service(s), ChangeKind::Created | ChangeKind::Updated) if s.tenant == self.tenant => {
                    services.insert(s.id.clone(), s.clone());
                }
                (Entity::Instance(i), ChangeKind::Deleted) if i.tenant == self.tenant => {
                    frame.removed.push(pb::InstanceRef {
                        tenant: i.tenant.to_string(),
                        service_id: i.service_id.to_string(),
                        id: i.id.to_string(),
                    });
                }
                (Entity::Instance(i), _) if i.tenant == self.tenant => {
                    if let Some(bytes) = self.outgoing(i) {
                        needed.insert(i.service_id.clone());
                        frame.instances.push(bytes);
                    }
                }
                _ => {}
            }
        }
        for id in needed {
            let service_ref = ServiceRef {
                tenant: self.tenant.clone(),
                id,
            };
            if let Some(s) = applied.state.service(&service_ref) {
                services.entry(s.id.clone()).or_insert_with(|| s.clone());
            }
        }
        frame.services = services
            .values()
            .filter_map(|s| codec::encode::<Service>(s).ok())
            .collect();
        frame
    }

    /// The instance as the follower gets it (stamped with this cluster's hop), or `None` if it
    /// came from the follower.
    fn outgoing(&self, i: &Instance) -> Option<Vec<u8>> {
        if hops::visited(&i.metadata, &self.follower) {
            return None;
        }
        let mut i = i.clone();
        hops::add_hop(&mut i.metadata, &self.cluster);
        codec::encode(&i).ok()
    }
}
