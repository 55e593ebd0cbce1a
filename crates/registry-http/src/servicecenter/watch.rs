//! WebSockets (§3.3, §3.8): the watcher pushes CREATE / UPDATE / DELETE of the consumer's
//! providers' instances, taken from the store's change feed; the heartbeat socket renews the
//! instance's lease on every pong and closes with 4001 when the instance is unknown at the
//! start or gone at a pong, as ServiceCenter does.

use std::sync::Arc;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::CloseFrame;
use axum::extract::ws::Message;
use axum::extract::ws::Utf8Bytes;
use axum::extract::ws::WebSocket;
use axum::extract::ConnectInfo;
use axum::extract::FromRequestParts;
use axum::extract::Path;
use axum::extract::State;
use axum::extract::WebSocketUpgrade;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use axum::response::Response;
use registry_store::change::Change;
use registry_store::change::ChangeKind;
use registry_store::feed::FeedError;
use registry_store::feed::Subscription;
use registry_store::model::InstanceKey;
use registry_store::model::ServiceRef;
use registry_store::record::Entity;

use super::core::Sc;
use super::error::ScError;
use super::mapping::instance_to_wire;
use super::tenant::ScTenant;
use super::wire::MicroServiceKey;
use super::wire::WatchEvent;
use crate::connections::ClientAddr;
use crate::limits::RateLimit;

/// WebSocket close code meaning "the instance does not exist" (clients register again).
pub const INSTANCE_GONE: u16 = 4001;

type Shared = State<Arc<Sc>>;

/// The event text for `change` if it concerns one of `consumer`'s providers (encoded once for
/// every watcher that sends it, see [`super::event_texts`]).
fn event_for(sc: &Sc, consumer: &ServiceRef, change: &Change) -> Option<Utf8Bytes> {
    let Entity::Instance(instance) = &change.entity else {
        return None;
    };
    // The provider copied out under the state lock; the event is built and encoded after.
    let service = sc.registry.read(|applied| {
        let state = &applied.state;
        let service = state.service(&instance.service_ref())?;
        state
            .dependencies_of(consumer)
            .any(|d| d.matches(service))
            .then(|| service.clone())
    })?;
    let action = match change.kind {
        ChangeKind::Created => "CREATE",
        ChangeKind::Updated => "UPDATE",
        ChangeKind::Deleted => "DELETE",
    };
    sc.event_texts
        .get_or_encode(change.revision, change.kind, &instance.key(), || {
            // Empty fields are omitted, as Go's `omitempty` does in ServiceCenter's events.
            let event = WatchEvent {
                action: action.into(),
                key: MicroServiceKey {
                    tenant: service.tenant.to_string(),
                    environment: service.environment.clone(),
                    app_id: service.app.clone(),
                    service_name: service.name.clone(),
                    alias: service.alias.clone(),
                    version: service.version.clone(),
                },
                instance: instance_to_wire(&service, instance),
            };
            serde_json::to_string(&event).ok()
        })
}

fn consumer_deleted(consumer: &ServiceRef, change: &Change) -> bool {
    matches!(&change.entity, Entity::Service(s) if change.kind == ChangeKind::Deleted && s.service_ref() == *consumer)
}

/// A watch that cannot start: ServiceCenter writes the error's text as a plain text frame and
/// closes (`server/pubsub/ws/common.go` `SendEstablishError`; for an unknown consumer the text
/// is `service does not exist`, `datasource/ms.go`).
async fn refuse(mut socket: WebSocket, text: &str) {
    let _ = socket.send(Message::Text(text.to_string().into())).await;
    close(socket, None).await;
}

/// Longest wait for the client's answer to our close.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Closes the WebSocket handshake-style: our close frame, then the client's frames until its
/// close (bounded). Dropping the socket with a client's frame unread (a pong in flight) would
/// reset the connection, and the client could lose our close frame and its code (sc-client
/// registers again only on 4001).
async fn close(mut socket: WebSocket, frame: Option<CloseFrame>) {
    if socket.send(Message::Close(frame)).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                return;
            }
        }
    })
    .await;
}

/// Largest frame or message a client may send: clients send only pings, pongs and closes
/// (ServiceCenter reads at most 64 bytes from a watcher).
const MAX_CLIENT_MESSAGE: usize = 4 * 1024;
/// Most bytes of events queued for a client that does not read them; past it, the socket ends.
const MAX_QUEUED_BYTES: usize = 4 * 1024 * 1024;
/// A socket's read buffer. tungstenite's default, 128 KiB, is zeroed on every read attempt
/// (each wake of the socket's task): 128 KiB of memory a watcher and a memset per event it is
/// sent. A larger frame still arrives whole: the buffer grows to the frame's length.
const READ_BUFFER: usize = MAX_CLIENT_MESSAGE;

/// A WebSocket route asked without an upgrade: ServiceCenter's 400001, not a framework error.
/// An upgrade gets the frame and buffer limits.
fn upgrade_required(ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>) -> Result<WebSocketUpgrade, ScError> {
    ws.map(|ws| {
        ws.max_message_size(MAX_CLIENT_MESSAGE)
            .max_frame_size(MAX_CLIENT_MESSAGE)
            .max_write_buffer_size(MAX_QUEUED_BYTES)
            .read_buffer_size(READ_BUFFER)
    })
    .map_err(|e| ScError::invalid(format!("a WebSocket upgrade is required: {e}")))
}

/// Counts every frame a client sends against its rate, as every request is counted: `false`
/// once it is over (the socket is then closed with 1008).
#[derive(Clone)]
pub struct FrameRate {
    limit: Option<Arc<RateLimit>>,
    client: Option<std::net::IpAddr>,
}

impl<S: Send + Sync> FromRequestParts<S> for FrameRate {
    type Rejection = std::convert::Infallible;

    /// The client's rate limit, when one is configured (the rate middleware passes it on).
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            limit: parts.extensions.get::<Arc<RateLimit>>().cloned(),
            client: parts
                .extensions
                .get::<ConnectInfo<ClientAddr>>()
                .map(|ConnectInfo(ClientAddr(addr))| addr.ip()),
        })
    }
}

impl FrameRate {
    fn allows(&self) -> bool {
        match (&self.limit, self.client) {
            (Some(limit), Some(client)) => limit.check(client).is_ok(),
            _ => true,
        }
    }
}

/// The close for a client over its rate (1008: policy violation).
fn over_rate() -> CloseFrame {
    CloseFrame {
        code: axum::extract::ws::close_code::POLICY,
        reason: "rate limit exceeded".into(),
    }
}

pub async fn watcher(
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    State(sc): Shared,
    Path((_, id)): Path<(String, String)>,
    tenant: Result<ScTenant, ScError>,
    rate: FrameRate,
) -> Response {
    let ws = match upgrade_required(ws) {
        Ok(ws) => ws,
        Err(e) => return e.into_response(),
    };
    let tenant = match tenant {
        Ok(ScTenant(t)) => t,
        Err(e) => return e.into_response(),
    };
    let consumer = ServiceRef { tenant, id: id.into() };
    // Subscribe before answering the upgrade: nothing applied after the client's request is missed.
    let changes = sc.registry.subscribe(sc.registry.revision());
    ws.on_upgrade(move |socket| watch(sc, consumer, changes, rate, socket))
}

async fn watch(
    sc: Arc<Sc>,
    consumer: ServiceRef,
    changes: Result<Subscription, FeedError>,
    rate: FrameRate,
    mut socket: WebSocket,
) {
    if !sc.registry.read(|applied| applied.state.service(&consumer).is_some()) {
        return refuse(socket, "service does not exist").await;
    }
    let mut changes = match changes {
        Ok(s) => s,
        Err(e) => return refuse(socket, &e.to_string()).await,
    };
    let mut ping = tokio::time::interval(sc.settings.ping_interval);
    ping.tick().await;
    loop {
        tokio::select! {
            change = changes.next() => {
                let Ok(change) = change else {
                    // Fell behind the history (or the node stops): the client reconnects and re-lists.
                    return close(socket, None).await;
                };
                if consumer_deleted(&consumer, &change) {
                    return close(socket, None).await;
                }
                if let Some(text) = event_for(&sc, &consumer, &change) {
                    if socket.send(Message::Text(text)).await.is_err() {
                        return;
                    }
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) if !rate.allows() => return close(socket, Some(over_rate())).await,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The heartbeat socket: every pong renews the lease (so it needs the write role, as a
/// heartbeat does), and every frame counts against the client's rate.
pub async fn heartbeat_socket(
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    State(sc): Shared,
    Path((_, service_id, id)): Path<(String, String, String)>,
    tenant: Result<ScTenant, ScError>,
    rate: FrameRate,
) -> Response {
    let ws = match upgrade_required(ws) {
        Ok(ws) => ws,
        Err(e) => return e.into_response(),
    };
    let tenant = match tenant {
        Ok(ScTenant(t)) => t,
        Err(e) => return e.into_response(),
    };
    let key = InstanceKey {
        tenant,
        service_id: service_id.into(),
        id: id.into(),
    };
    ws.on_upgrade(move |socket| keep_alive(sc, key, rate, socket))
}

/// Closes with 4001, the only close sc-client answers by registering again, with
/// ServiceCenter's reason (`server/service/heartbeat/websocket.go`).
async fn gone(socket: WebSocket) {
    let frame = CloseFrame {
        code: INSTANCE_GONE,
        reason: "heartbeat reporting failed because the instance does not exist".into(),
    };
    close(socket, Some(frame)).await;
}

async fn keep_alive(sc: Arc<Sc>, key: InstanceKey, rate: FrameRate, mut socket: WebSocket) {
    if !sc.registry.read(|applied| applied.state.instance(&key).is_some()) {
        return gone(socket).await;
    }
    let mut ping = tokio::time::interval(sc.settings.ping_interval);
    loop {
        tokio::select! {
            _ = ping.tick() => {
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) if !rate.allows() => return close(socket, Some(over_rate())).await,
                Some(Ok(Message::Pong(_))) => match sc.registry.renew(vec![key.clone()]).await {
                    Ok(found) if found.first() == Some(&true) => {}
                    Ok(_) => return gone(socket).await,
                    // The cluster is unreachable for now: the client keeps ponging.
                    Err(_) => {}
                },
                Some(Ok(_)) => {}
            },
        }
    }
}
