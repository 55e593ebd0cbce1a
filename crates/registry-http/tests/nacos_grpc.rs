//! Nacos 2.x gRPC over the in-memory fake registry, driven by a raw tonic client on one HTTP/2
//! connection (as Nacos clients share one for both services): bad input (unknown types, bodies
//! that are no JSON, missing or illegal fields, requests before the connection's setup) is
//! answered with Nacos's `ErrorResponse` and codes, never a panic or a stall, and the connection
//! serves on afterwards (issue 22).

use std::sync::Arc;
use std::time::Duration;

use registry_http::nacos::grpc::codec;
use registry_http::nacos::grpc::proto::bi_request_stream_client::BiRequestStreamClient;
use registry_http::nacos::grpc::proto::request_client::RequestClient;
use registry_http::nacos::grpc::proto::Body;
use registry_http::nacos::grpc::proto::Metadata;
use registry_http::nacos::grpc::proto::Payload;
use registry_http::nacos::grpc::NacosGrpc;
use registry_http::nacos::mapping::NacosSettings;
use registry_store::registry::Registry;
use registry_store::testing::FakeRegistry;
use registry_store::worker::Workers;
use serde_json::json;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::sync::watch;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

fn payload(kind: &str, body: &[u8]) -> Payload {
    Payload {
        metadata: Some(Metadata {
            r#type: kind.to_string(),
            client_ip: "127.0.0.1".into(),
            headers: Default::default(),
        }),
        body: Some(Body {
            type_url: String::new(),
            value: body.to_vec(),
        }),
    }
}

/// A server over a fake registry, and one connection to it.
struct Setup {
    grpc: NacosGrpc,
    channel: Channel,
    stop: watch::Sender<bool>,
    workers: Workers,
    server: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Setup {
    async fn start() -> Setup {
        let registry: Arc<dyn Registry> = FakeRegistry::new();
        let workers = Workers::new();
        let grpc = NacosGrpc::start(registry, NacosSettings::default(), &workers);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, mut stopped) = watch::channel(false);
        let server = tokio::spawn(grpc.clone().serve(listener, async move {
            let _ = stopped.wait_for(|s| *s).await;
        }));
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .unwrap();
        Setup {
            grpc,
            channel,
            stop,
            workers,
            server,
        }
    }

    /// Sends `p` and returns the answer's type and body, bounded in time.
    async fn ask(&self, p: Payload) -> (String, Value) {
        let mut client = RequestClient::new(self.channel.clone());
        let answer = tokio::time::timeout(Duration::from_secs(5), client.request(p))
            .await
            .expect("an answer in time")
            .expect("a gRPC answer, not a status")
            .into_inner();
        let kind = answer.metadata.unwrap().r#type;
        let body = serde_json::from_slice(&answer.body.unwrap().value).unwrap();
        (kind, body)
    }

    /// Opens the connection's stream and sets the connection up; returns the stream's sender
    /// and what the server sends on it.
    async fn set_up(&self) -> (mpsc::Sender<Payload>, tonic::Streaming<Payload>) {
        let (tx, rx) = mpsc::channel(8);
        let mut client = BiRequestStreamClient::new(self.channel.clone());
        tx.send(payload(
            "ConnectionSetupRequest",
            br#"{"clientVersion":"test","tenant":"","labels":{"source":"sdk"},"requestId":""}"#,
        ))
        .await
        .unwrap();
        let inbound = client
            .request_bi_stream(ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        // Set up once a request is no longer refused as unregistered (bounded).
        for _ in 0..100 {
            let (kind, _) = self.ask(payload("HealthCheckRequest", br#"{"requestId":"h"}"#)).await;
            if kind == "HealthCheckResponse" {
                return (tx, inbound);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the connection was never set up");
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        self.workers.stop_all(Duration::from_secs(2)).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.server).await;
    }
}

fn assert_error(answer: &(String, Value), code: i64, what: &str) {
    assert_eq!(answer.0, "ErrorResponse", "{what}: {answer:?}");
    assert_eq!(answer.1["errorCode"], code, "{what}: {answer:?}");
    assert_eq!(answer.1["success"], false, "{what}: {answer:?}");
    assert!(
        answer.1["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {answer:?}"
    );
}

fn instance_request(instance: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "requestId": "r1", "namespace": "public", "serviceName": "orders", "groupName": "DEFAULT_GROUP",
        "type": "registerInstance", "module": "naming", "headers": {}, "instance": instance,
    }))
    .unwrap()
}

#[tokio::test]
async fn bad_payloads_get_nacos_error_responses_and_the_connection_serves_on() {
    let setup = Setup::start().await;

    // Before the setup: the server check answers, an unknown type is 302, a known one 301.
    let (kind, body) = setup.ask(payload("ServerCheckRequest", br#"{"requestId":"1"}"#)).await;
    assert_eq!(kind, "ServerCheckResponse");
    assert_eq!(body["requestId"], "1");
    assert!(body["connectionId"].as_str().is_some_and(|id| !id.is_empty()), "{body}");
    let unknown = setup.ask(payload("NoSuchRequest", b"{}")).await;
    assert_error(&unknown, codec::NO_HANDLER.into(), "unknown type");
    let early = setup.ask(payload("ServiceQueryRequest", b"{}")).await;
    assert_error(&early, codec::UN_REGISTER.into(), "before the setup");
    assert_eq!(early.1["resultCode"], 500);
    let empty = setup.ask(Payload::default()).await;
    assert_error(&empty, codec::NO_HANDLER.into(), "no metadata");

    let (stream, _pushes) = setup.set_up().await;
    // Garbage on the stream is ignored; the connection stays set up.
    stream
        .send(payload("NotifySubscriberResponse", b"not json"))
        .await
        .unwrap();
    stream.send(Payload::default()).await.unwrap();

    let bad_json = setup.ask(payload("InstanceRequest", b"{\"instance\": ")).await;
    assert_error(&bad_json, codec::BAD_GATEWAY.into(), "malformed JSON");
    let not_object = setup.ask(payload("InstanceRequest", b"[1, 2]")).await;
    assert_error(&not_object, codec::BAD_GATEWAY.into(), "a JSON array");
    let wrong_shape = setup
        .ask(payload("InstanceRequest", br#"{"instance": {"ip": 7, "port": "x"}}"#))
        .await;
    assert_error(&wrong_shape, codec::BAD_GATEWAY.into(), "fields of the wrong type");

    let no_instance = setup
        .ask(payload(
            "InstanceRequest",
            br#"{"requestId":"2","serviceName":"orders","type":"registerInstance"}"#,
        ))
        .await;
    assert_error(&no_instance, codec::INVALID_PARAM.into(), "no instance");
    assert_eq!(no_instance.1["message"], "Param 'instance' is required.");
    assert_eq!(no_instance.1["requestId"], "2");
    let no_ip = setup
        .ask(payload("InstanceRequest", &instance_request(json!({ "port": 8080 }))))
        .await;
    assert_error(&no_ip, codec::INVALID_PARAM.into(), "no ip");
    let bad_port = setup
        .ask(payload(
            "InstanceRequest",
            &instance_request(json!({ "ip": "10.0.0.1", "port": 70000 })),
        ))
        .await;
    assert_error(&bad_port, codec::INVALID_PARAM.into(), "port out of range");
    let bad_cluster = setup
        .ask(payload(
            "InstanceRequest",
            &instance_request(json!({ "ip": "10.0.0.1", "port": 80, "clusterName": "no spaces" })),
        ))
        .await;
    assert_error(&bad_cluster, codec::INVALID_PARAM.into(), "illegal cluster");
    let persistent = setup
        .ask(payload(
            "InstanceRequest",
            &instance_request(json!({ "ip": "10.0.0.1", "port": 80, "ephemeral": false })),
        ))
        .await;
    assert_error(
        &persistent,
        codec::INVALID_PARAM.into(),
        "a persistent instance as ephemeral",
    );
    let no_service = setup
        .ask(payload(
            "InstanceRequest",
            br#"{"type":"registerInstance","instance":{"ip":"10.0.0.1","port":80}}"#,
        ))
        .await;
    assert_error(&no_service, codec::INVALID_PARAM.into(), "no service name");
    let mut bogus =
        serde_json::from_slice::<Value>(&instance_request(json!({ "ip": "10.0.0.1", "port": 80 }))).unwrap();
    bogus["type"] = json!("bogus");
    let bogus_type = setup
        .ask(payload("InstanceRequest", &serde_json::to_vec(&bogus).unwrap()))
        .await;
    assert_error(
        &bogus_type,
        codec::INVALID_PARAM.into(),
        "unknown instance request type",
    );
    let bad_batch = setup
        .ask(payload(
            "BatchInstanceRequest",
            br#"{"serviceName":"orders","type":"batchRegisterInstance"}"#,
        ))
        .await;
    assert_error(&bad_batch, codec::INVALID_PARAM.into(), "batch without instances");
    let bad_namespace = setup
        .ask(payload(
            "ServiceQueryRequest",
            br#"{"namespace":"bad namespace!","serviceName":"orders"}"#,
        ))
        .await;
    assert_error(&bad_namespace, codec::INVALID_PARAM.into(), "illegal namespace");

    // The connection serves on: a registration, then a query that finds it.
    let (kind, body) = setup
        .ask(payload(
            "InstanceRequest",
            &instance_request(
                json!({ "ip": "10.0.0.1", "port": 8080, "clusterName": "zone-a", "metadata": { "k": "v" } }),
            ),
        ))
        .await;
    assert_eq!(kind, "InstanceResponse", "{body}");
    assert_eq!(body["resultCode"], 200, "{body}");
    assert_eq!(body["success"], true, "{body}");
    let (kind, body) = setup
        .ask(payload(
            "ServiceQueryRequest",
            br#"{"namespace":"public","serviceName":"orders","groupName":"DEFAULT_GROUP","cluster":"","healthyOnly":false}"#,
        ))
        .await;
    assert_eq!(kind, "QueryServiceResponse", "{body}");
    let info = &body["serviceInfo"];
    assert_eq!(info["name"], "orders", "{body}");
    assert_eq!(info["groupName"], "DEFAULT_GROUP", "{body}");
    assert_eq!(info["hosts"][0]["ip"], "10.0.0.1", "{body}");
    assert_eq!(info["hosts"][0]["clusterName"], "zone-a", "{body}");
    assert_eq!(info["hosts"][0]["metadata"]["k"], "v", "{body}");
    drop(stream);
    setup.stop().await;
}

fn query_body(service: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "requestId": "s1", "namespace": "public", "serviceName": service, "groupName": "DEFAULT_GROUP",
        "clusters": "", "subscribe": true,
    }))
    .unwrap()
}

/// The next push on the stream, bounded in time.
async fn next_push(pushes: &mut tonic::Streaming<Payload>) -> (String, Value) {
    let p = tokio::time::timeout(Duration::from_secs(5), pushes.message())
        .await
        .expect("a push in time")
        .expect("the stream is open")
        .expect("a payload");
    let body = serde_json::from_slice(&p.body.unwrap().value).unwrap();
    (p.metadata.unwrap().r#type, body)
}

#[tokio::test]
async fn a_subscriber_is_pushed_each_change_on_its_stream_and_acknowledges_it() {
    let setup = Setup::start().await;
    let (stream, mut pushes) = setup.set_up().await;
    let (kind, body) = setup
        .ask(payload("SubscribeServiceRequest", &query_body("orders")))
        .await;
    assert_eq!(kind, "SubscribeServiceResponse", "{body}");
    assert_eq!(body["serviceInfo"]["hosts"], json!([]), "{body}");

    let (kind, _) = setup
        .ask(payload(
            "InstanceRequest",
            &instance_request(json!({ "ip": "10.0.0.1", "port": 8080 })),
        ))
        .await;
    assert_eq!(kind, "InstanceResponse");
    let (kind, push) = next_push(&mut pushes).await;
    assert_eq!(kind, "NotifySubscriberRequest", "{push}");
    assert_eq!(push["namespace"], "public", "{push}");
    assert_eq!(push["serviceName"], "orders", "{push}");
    assert_eq!(push["groupName"], "DEFAULT_GROUP", "{push}");
    assert_eq!(push["serviceInfo"]["hosts"][0]["ip"], "10.0.0.1", "{push}");
    // The client's acknowledgement, on the stream.
    let ack = json!({ "requestId": push["requestId"], "resultCode": 200, "errorCode": 0, "message": "" });
    stream
        .send(payload("NotifySubscriberResponse", &serde_json::to_vec(&ack).unwrap()))
        .await
        .unwrap();

    // Deregistered: pushed with no hosts.
    let mut gone =
        serde_json::from_slice::<Value>(&instance_request(json!({ "ip": "10.0.0.1", "port": 8080 }))).unwrap();
    gone["type"] = json!("deregisterInstance");
    let (kind, _) = setup
        .ask(payload("InstanceRequest", &serde_json::to_vec(&gone).unwrap()))
        .await;
    assert_eq!(kind, "InstanceResponse");
    let (_, push) = next_push(&mut pushes).await;
    assert_eq!(push["serviceInfo"]["hosts"], json!([]), "{push}");

    // Unsubscribed: a change of the service is not pushed; the stream carries nothing more.
    let mut off = serde_json::from_slice::<Value>(&query_body("orders")).unwrap();
    off["subscribe"] = json!(false);
    let (kind, _) = setup
        .ask(payload("SubscribeServiceRequest", &serde_json::to_vec(&off).unwrap()))
        .await;
    assert_eq!(kind, "SubscribeServiceResponse");
    setup
        .ask(payload(
            "InstanceRequest",
            &instance_request(json!({ "ip": "10.0.0.2", "port": 8080 })),
        ))
        .await;
    let quiet = tokio::time::timeout(Duration::from_millis(500), pushes.message()).await;
    assert!(quiet.is_err(), "pushed after unsubscribing: {quiet:?}");
    assert_eq!(
        setup.grpc.connections().held().len(),
        1,
        "the connection holds 10.0.0.2's lease"
    );

    // The stream ends: the connection is gone, and no lease is held (renewed) any more.
    drop(stream);
    drop(pushes);
    for _ in 0..250 {
        if setup.grpc.connections().registered() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        setup.grpc.connections().registered(),
        0,
        "the connection outlived its stream"
    );
    assert!(setup.grpc.connections().held().is_empty());
    setup.stop().await;
}
