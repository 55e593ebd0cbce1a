//! Watch latency: a ServiceCenter instance registered on one node, until the CREATE event reaches
//! a consumer's watcher (WebSocket) connected to another node. Measured from sending the
//! registration, so it covers the commit and the push.

use std::time::Duration;
use std::time::Instant;

use futures::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use super::Samples;
use crate::conn::Conn;
use crate::conn::Target;
use crate::driver::bodiless;
use crate::driver::with_body;
use crate::error::BenchError;
use crate::report::Summary;

const ROOT: &str = "/v4/default/registry";

async fn post(conn: &mut Conn, path: &str, body: String) -> Result<(), BenchError> {
    let request = with_body("POST", path, "application/json", body.into_bytes());
    conn.send_expecting(request, &format!("POST {path}"), |s| s.is_success())
        .await?;
    Ok(())
}

/// `samples` registrations sent to `writer`, each waited for on a watcher at `watcher`.
pub async fn watch_latency(writer: &Target, watcher: &Target, samples: usize) -> Result<Summary, BenchError> {
    let mut conn = Conn::new(writer.clone());
    let service = |id: &str, name: &str| {
        format!(r#"{{"service":{{"serviceId":"{id}","appId":"watch","serviceName":"{name}","version":"1.0.0"}}}}"#)
    };
    post(
        &mut conn,
        &format!("{ROOT}/microservices"),
        service("watch-provider", "provider"),
    )
    .await?;
    post(
        &mut conn,
        &format!("{ROOT}/microservices"),
        service("watch-consumer", "consumer"),
    )
    .await?;
    // A find with X-ConsumerId records the dependency the watcher follows.
    let mut find = bodiless(
        "GET",
        &format!("{ROOT}/instances?appId=watch&serviceName=provider&version=latest"),
        "application/json",
    );
    find.headers_mut().insert(
        "X-ConsumerId",
        hyper::header::HeaderValue::from_static("watch-consumer"),
    );
    conn.send(find).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let url = format!("ws://{}{ROOT}/microservices/watch-consumer/watcher", watcher.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| BenchError::Setup(format!("watcher: {e}")))?;

    let mut latencies = Samples::new();
    for n in 0..samples {
        let id = format!("watch-{n}");
        let body =
            format!(r#"{{"instance":{{"instanceId":"{id}","hostName":"h{n}","endpoints":["rest://10.0.0.1:80"]}}}}"#);
        let sent = Instant::now();
        post(
            &mut conn,
            &format!("{ROOT}/microservices/watch-provider/instances"),
            body,
        )
        .await?;
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .map_err(|_| BenchError::Setup(format!("no event for {id} within 10 s")))?;
            let Some(Ok(message)) = message else {
                return Err(BenchError::Setup("the watcher closed".into()));
            };
            if let Message::Text(text) = message {
                let event: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                if event["action"] == "CREATE" && event["instance"]["instanceId"] == id.as_str() {
                    break;
                }
            }
        }
        latencies.record(sent.elapsed());
    }
    Ok(latencies.summary("watch: register -> event"))
}
