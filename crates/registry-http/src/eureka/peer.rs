//! `POST /peerreplication/batch`: what a Netflix Eureka server sends its peers (§5.8), so a
//! Netflix cluster can list this registry as a peer during a migration. Each item is applied
//! with the same operations as the single-call endpoints; replies come in the same order.
//!
//! A batch carries many instances' changes (Netflix sends up to 250 items). One instance's
//! items apply in the order they came; different instances' apply at once, so their writes
//! share log entries (the node's batcher packs concurrent commands) instead of costing one
//! entry and one round trip each.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;
use serde_json::Value;

use super::error::EurekaError;
use super::format::Format;
use super::json;
use super::ops::Eureka;
use super::ops::Renewal;
use super::ops::Renewer;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    app_name: String,
    id: String,
    last_dirty_timestamp: Option<Value>,
    status: Option<String>,
    overridden_status: Option<String>,
    action: String,
    instance_info: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Batch {
    replication_list: Vec<Item>,
}

fn stamp(v: &Option<Value>) -> Option<u64> {
    match v {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

fn code_of(e: &EurekaError) -> u16 {
    match e {
        EurekaError::NotFound => 404,
        EurekaError::Invalid(_) | EurekaError::Unparseable(_) => 400,
        EurekaError::BadStatusValue(_) => 500,
        EurekaError::UnsupportedMediaType => 415,
        EurekaError::Unavailable(_) => 503,
    }
}

fn done(result: Result<(), EurekaError>) -> Value {
    match result {
        Ok(()) => json!({ "statusCode": 200 }),
        Err(e) => json!({ "statusCode": code_of(&e) }),
    }
}

/// Every batch item comes from a peer (`PeerReplicationResource` renews with `REPLICATION`).
fn peer(item: &Item) -> Renewer<'_> {
    Renewer {
        replicated: true,
        overridden_status: item.overridden_status.as_deref(),
    }
}

async fn apply(e: &Eureka, item: Item) -> Value {
    let dirty = stamp(&item.last_dirty_timestamp);
    match item.action.as_str() {
        "Register" => {
            let info = item
                .instance_info
                .ok_or(EurekaError::Unparseable(Format::Json))
                .and_then(|v| {
                    json::decode_instance(v.to_string().as_bytes()).map_err(|_| EurekaError::Unparseable(Format::Json))
                });
            match info {
                Ok(info) => done(e.register(&item.app_name, info).await),
                Err(err) => done(Err(err)),
            }
        }
        "Heartbeat" => match e.renew(&item.app_name, &item.id, dirty, peer(&item)).await {
            Ok(Renewal::Renewed) => json!({ "statusCode": 200 }),
            Ok(Renewal::NotFound) => json!({ "statusCode": 404 }),
            Ok(Renewal::Conflict(info)) => {
                let entity: Value = serde_json::from_slice(&json::encode_instance(&info)).unwrap_or(Value::Null);
                json!({ "statusCode": 409, "responseEntity": entity["instance"] })
            }
            Err(err) => done(Err(err)),
        },
        "Cancel" => done(e.cancel(&item.app_name, &item.id).await),
        "StatusUpdate" => done(
            e.set_override(&item.app_name, &item.id, item.status.as_deref(), dirty)
                .await,
        ),
        "DeleteStatusOverride" => done(
            e.clear_override(&item.app_name, &item.id, item.status.as_deref(), dirty)
                .await,
        ),
        _ => json!({ "statusCode": 400 }),
    }
}

/// Instances whose items are applied at the same time, at most.
const CONCURRENT_INSTANCES: usize = 64;

/// The batch's items grouped by instance (app names compare case-insensitively), each group in
/// the batch's order and tagged with the items' places in it.
fn by_instance(items: Vec<Item>) -> Vec<Vec<(usize, Item)>> {
    let mut groups: Vec<Vec<(usize, Item)>> = Vec::new();
    let mut group_of: HashMap<(String, String), usize> = HashMap::new();
    for (place, item) in items.into_iter().enumerate() {
        let key = (item.app_name.to_ascii_uppercase(), item.id.clone());
        let group = *group_of.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[group].push((place, item));
    }
    groups
}

pub async fn batch(State(e): State<Arc<Eureka>>, body: Bytes) -> Result<Response, EurekaError> {
    let batch: Batch = serde_json::from_slice(&body).map_err(|_| EurekaError::Unparseable(Format::Json))?;
    let count = batch.replication_list.len();
    let e = &e;
    let answered: Vec<Vec<(usize, Value)>> = futures::stream::iter(by_instance(batch.replication_list))
        .map(|group| async move {
            let mut answers = Vec::with_capacity(group.len());
            for (place, item) in group {
                answers.push((place, apply(e, item).await));
            }
            answers
        })
        .buffer_unordered(CONCURRENT_INSTANCES)
        .collect()
        .await;
    let mut responses = vec![Value::Null; count];
    for (place, answer) in answered.into_iter().flatten() {
        responses[place] = answer;
    }
    let body = serde_json::to_vec(&json!({ "responseList": responses })).unwrap_or_default();
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response())
}
