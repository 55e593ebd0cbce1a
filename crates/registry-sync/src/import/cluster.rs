//! Import from another cluster of ours: follow its change feed over gRPC (`Follow`, served on
//! its nodes' HTTP ports) from the revision stored as checkpoint. Every `full_sync` the stream
//! is reopened from revision 0 for a complete listing, which repairs any drift. If the node
//! fails, the next attempt goes to another node of that cluster (learned from the frames).

use std::time::Duration;
use std::time::Instant;

use futures::future::BoxFuture;
use registry_store::model::Instance;
use registry_store::model::MirroredFrom;
use registry_store::model::Origin;
use registry_store::model::Service;
use registry_store::model::Tenant;
use registry_store::node::wall_clock_ms;
use registry_store::storage::codec;
use smol_str::format_smolstr;
use smol_str::SmolStr;
use smol_str::ToSmolStr;
use tonic::transport::ClientTlsConfig;
use tonic::transport::Endpoint;
use tonic::Streaming;

use crate::config::Credentials;
use crate::error::SyncError;
use crate::follow::KEEPALIVE;
use crate::follow::MAX_FRAME_BYTES;
use crate::import::Source;
use crate::pb;
use crate::pb::federation_client::FederationClient;
use crate::plan::Listing;
use crate::Context;

/// The import state of one cluster peer.
pub struct ClusterSource {
    source: SmolStr,
    us: String,
    tenant: Tenant,
    remote: Tenant,
    full_every: Duration,
    /// The configured URL first, then the peer's other nodes as it reports them.
    urls: Vec<String>,
    next_url: usize,
    stream: Option<(Streaming<pb::FeedFrame>, Instant)>,
    /// The `authorization` header the peer wants, if it needs credentials.
    authorization: Option<String>,
}

impl ClusterSource {
    pub fn new(ctx: &Context) -> Self {
        Self {
            source: ctx.peer.name.as_str().into(),
            us: ctx.cluster.clone(),
            tenant: ctx.peer.tenant.clone(),
            remote: ctx.peer.remote_tenant.clone(),
            full_every: ctx.peer.full_sync,
            urls: vec![ctx.peer.url.clone()],
            next_url: 0,
            stream: None,
            authorization: ctx.peer.credentials.as_ref().map(Credentials::header_value),
        }
    }

    async fn next_listing(&mut self, checkpoint: Option<&str>) -> Result<Listing, SyncError> {
        let due_full = self
            .stream
            .as_ref()
            .is_some_and(|(_, at)| at.elapsed() >= self.full_every);
        if self.stream.is_none() || due_full {
            let after = if due_full {
                0
            } else {
                checkpoint.and_then(|c| c.parse().ok()).unwrap_or(0)
            };
            self.stream = Some((self.connect(after).await?, Instant::now()));
        }
        let mut listing = Listing::default();
        loop {
            let frame = self.receive().await?;
            if frame.cluster == self.us {
                self.stream = None;
                return Err(SyncError::Refused(format!(
                    "the peer cluster is also named {:?}: give each cluster its own cluster_name",
                    self.us
                )));
            }
            for node in &frame.nodes {
                if !self.urls.contains(node) {
                    self.urls.push(node.clone());
                }
            }
            self.add(&mut listing, &frame)?;
            if !frame.more {
                return Ok(listing);
            }
        }
    }

    async fn receive(&mut self) -> Result<pb::FeedFrame, SyncError> {
        let (stream, _) = self.stream.as_mut().expect("connected");
        let wait = KEEPALIVE * 3;
        let result = match tokio::time::timeout(wait, stream.message()).await {
            Err(_) => Err(SyncError::Unreachable(format!("no frame for {} s", wait.as_secs()))),
            Ok(Err(status)) => Err(SyncError::Unreachable(format!("stream ended: {}", status.message()))),
            Ok(Ok(None)) => Err(SyncError::Unreachable("stream closed by the peer".into())),
            Ok(Ok(Some(frame))) => Ok(frame),
        };
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    /// Opens the stream on the first node that answers, starting with the next in turn.
    async fn connect(&mut self, after: u64) -> Result<Streaming<pb::FeedFrame>, SyncError> {
        let mut last = SyncError::Unreachable("no node to connect to".into());
        for _ in 0..self.urls.len() {
            let url = self.urls[self.next_url % self.urls.len()].clone();
            match self.open(&url, after).await {
                Ok(stream) => return Ok(stream),
                Err(e) => {
                    self.next_url = (self.next_url + 1) % self.urls.len();
                    last = e;
                }
            }
        }
        Err(last)
    }

    async fn open(&self, url: &str, after: u64) -> Result<Streaming<pb::FeedFrame>, SyncError> {
        let mut endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| SyncError::Unreachable(format!("{url}: {e}")))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true);
        if url.starts_with("https://") {
            endpoint = endpoint
                .tls_config(ClientTlsConfig::new().with_webpki_roots())
                .map_err(|e| SyncError::Unreachable(format!("{url}: {e}")))?;
        }
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| SyncError::Unreachable(format!("{url}: {e}")))?;
        let mut client = FederationClient::new(channel).max_decoding_message_size(MAX_FRAME_BYTES);
        let request = pb::FollowRequest {
            after_revision: after,
            tenant: self.remote.to_string(),
            follower_cluster: self.us.clone(),
        };
        let mut request = tonic::Request::new(request);
        if let Some(value) = &self.authorization {
            let value = value
                .parse()
                .map_err(|_| SyncError::Refused("the credentials cannot be sent as a header".into()))?;
            request.metadata_mut().insert("authorization", value);
        }
        match tokio::time::timeout(Duration::from_secs(10), client.follow(request)).await {
            Err(_) => Err(SyncError::Unreachable(format!("{url}: no answer to Follow"))),
            Ok(Err(status))
                if matches!(
                    status.code(),
                    tonic::Code::FailedPrecondition | tonic::Code::Unauthenticated | tonic::Code::PermissionDenied
                ) =>
            {
                Err(SyncError::Refused(status.message().to_string()))
            }
            Ok(Err(status)) => Err(SyncError::Unreachable(format!("{url}: {}", status.message()))),
            Ok(Ok(response)) => Ok(response.into_inner()),
        }
    }

    /// Adds one frame's records to the listing, as records mirrored from this peer.
    fn add(&self, listing: &mut Listing, frame: &pb::FeedFrame) -> Result<(), SyncError> {
        let observed_at_ms = wall_clock_ms();
        let bad = |e: codec::CodecError| SyncError::BadBody(format!("frame at revision {}: {e}", frame.revision));
        for bytes in &frame.services {
            let mut s: Service = codec::decode(bytes).map_err(bad)?;
            s.origin = Origin::Mirrored(Box::new(MirroredFrom {
                source: self.source.clone(),
                remote_id: s.id.clone(),
                remote_revision: Some(s.mod_revision.to_smolstr()),
                observed_at_ms,
            }));
            s.tenant = self.tenant.clone();
            listing.services.push(s);
        }
        for bytes in &frame.instances {
            let mut i: Instance = codec::decode(bytes).map_err(bad)?;
            i.origin = Origin::Mirrored(Box::new(MirroredFrom {
                source: self.source.clone(),
                remote_id: format_smolstr!("{}/{}", i.service_id, i.id),
                remote_revision: None,
                observed_at_ms,
            }));
            i.tenant = self.tenant.clone();
            listing.instances.push(i);
        }
        listing
            .removed
            .extend(frame.removed.iter().map(|r| format!("{}/{}", r.service_id, r.id)));
        listing.complete |= frame.complete;
        listing.checkpoint = frame.revision.to_string();
        Ok(())
    }
}

impl Source for ClusterSource {
    fn next<'a>(&'a mut self, checkpoint: Option<&'a str>) -> BoxFuture<'a, Result<Listing, SyncError>> {
        Box::pin(self.next_listing(checkpoint))
    }

    fn reset(&mut self) {
        self.stream = None;
    }
}
