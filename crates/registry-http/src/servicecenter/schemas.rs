//! Schemas (§3.5) and tags (§3.6) of a service.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::Query;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::Response;
use registry_store::command::Command;
use registry_store::command::DeleteSchema;
use registry_store::command::DeleteTags;
use registry_store::command::PutSchema;
use registry_store::command::PutTags;
use registry_store::command::ReplaceSchemas;
use registry_store::command::SchemaContent;
use serde_json::json;

use super::core::body;
use super::core::collection;
use super::core::done;
use super::core::json;
use super::core::Sc;
use super::error::ErrorCode;
use super::error::ScError;
use super::tenant::ScTenant;
use super::validate;
use super::wire::Schema;
use super::wire::SchemaRequest;
use super::wire::SchemasRequest;
use super::wire::TagsRequest;

type Shared = State<Arc<Sc>>;

fn schema_missing(id: &str) -> ScError {
    ScError::new(ErrorCode::SchemaNotExists, format!("schema {id} does not exist"))
}

pub async fn put_schema(
    State(sc): Shared,
    Path((_, id, schema_id)): Path<(String, String, String)>,
    ScTenant(tenant): ScTenant,
    bytes: Bytes,
) -> Result<Response, ScError> {
    let service = sc.existing_service(tenant, id)?;
    validate::schema_id(&schema_id)?;
    let request: SchemaRequest = body(&bytes)?;
    sc.write(Command::PutSchema(PutSchema {
        service,
        schema_id,
        content: request.schema,
        summary: request.summary,
    }))
    .await?;
    Ok(done())
}

/// Replaces the whole set: listed schemas are written, others removed.
pub async fn put_schemas(
    State(sc): Shared,
    Path((_, id)): Path<(String, String)>,
    ScTenant(tenant): ScTenant,
    bytes: Bytes,
) -> Result<Response, ScError> {
    let service = sc.existing_service(tenant, id)?;
    let request: SchemasRequest = body(&bytes)?;
    request
        .schemas
        .iter()
        .try_for_each(|s| validate::schema_id(&s.schema_id))?;
    // One log entry for the whole set (a batch of thousands was as many entries, one by one).
    let command = ReplaceSchemas {
        service,
        schemas: request
            .schemas
            .into_iter()
            .map(|s| SchemaContent {
                schema_id: s.schema_id,
                content: s.schema,
                summary: s.summary,
            })
            .collect(),
    };
    sc.write(Command::ReplaceSchemas(command)).await?;
    Ok(done())
}

pub async fn list_schemas(
    State(sc): Shared,
    Path((_, id)): Path<(String, String)>,
    ScTenant(tenant): ScTenant,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Response, ScError> {
    let service = sc.existing_service(tenant, id)?;
    let with_schema = match q.get("withSchema").map(String::as_str) {
        None | Some("0") => false,
        Some("1") => true,
        Some(other) => return Err(ScError::invalid(format!("withSchema must be 0 or 1, not {other:?}"))),
    };
    let schemas: Vec<Schema> = sc.registry.read(|applied| {
        applied
            .state
            .schemas_of(&service)
            .map(|s| Schema {
                schema_id: s.schema_id.clone(),
                summary: s.summary.clone(),
                schema: if with_schema { s.content.clone() } else { String::new() },
            })
            .collect()
    });
    Ok(collection("schemas", &schemas))
}

pub async fn get_schema(
    State(sc): Shared,
    Path((_, id, schema_id)): Path<(String, String, String)>,
    ScTenant(tenant): ScTenant,
) -> Result<Response, ScError> {
    let service = sc.existing_service(tenant, id)?;
    let schema = sc
        .registry
        .read(|applied| applied.state.schema(&service, &schema_id).cloned())
        .ok_or_else(|| schema_missing(&schema_id))?;
    let mut response = json(&json!({ "schema": schema.content }));
    if let Ok(v) = HeaderValue::from_str(&schema.summary) {
        response.headers_mut().insert("x-schema-summary", v);
    }
    Ok(response)
}

pub async fn delete_schema(
    State(sc): Shared,
    Path((_, id, schema_id)): Path<(String, String, String)>,
    ScTenant(tenant): ScTenant,
) -> Result<Response, ScError> {
    let service = sc.existing_service(tenant, id)?;
    sc.write(Command::DeleteSchema(DeleteSchema { service, schema_id }))
        .await?;
    Ok(done())
}

pub async fn add_tags(
    State(sc): Shared,
    Path((_, id)): Path<(String, String)>,
    ScTenant(tenant): ScTenant,
    bytes: Bytes,
) -> Result<Response, ScError> {
    let service = sc.existing_service(tenant, id)?;
    let request: TagsRequest = body(&bytes)?;
    if request.tags.is_empty() {
        return Err(ScError::invalid("field 'tags' must not be empty"));
    }
    sc.write(Command::PutTags(PutTags {
        service,
        tags: request.tags.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
    }))
    .await?;
    Ok(done())
}

pub async fn update_tag(
    State(sc): Shared,
    Path((_, id, key)): Path<(String, String, String)>,
    ScTenant(tenant): ScTenant,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Response, ScError> {
    let service = sc.existing_service(tenant, id)?;
    let known = sc.registry.read(|applied| {
        applied
            .state
            .tags_of(&service)
            .is_some_and(|t| t.tags.contains_key(key.as_str()))
    });
    if !known {
        return Err(ScError::new(
            ErrorCode::TagNotExists,
            format!("tag {key} does not exist"),
        ));
    }
    let value = q.get("value").cloned().unwrap_or_default();
    sc.write(Command::PutTags(PutTags {
        service,
        tags: [(key.into(), value.into())].into_iter().collect(),
    }))
    .await?;
    Ok(done())
}

pub async fn get_tags(
    State(sc): Shared,
    Path((_, id)): Path<(String, String)>,
    ScTenant(tenant): ScTenant,
) -> Result<Response, ScError> {
    let service = sc.existing_service(tenant, id)?;
    let tags = sc
        .registry
        .read(|applied| applied.state.tags_of(&service).map(|t| t.tags.clone()))
        .unwrap_or_default();
    Ok(collection("tags", &tags))
}

pub async fn delete_tags(
    State(sc): Shared,
    Path((_, id, keys)): Path<(String, String, String)>,
    ScTenant(tenant): ScTenant,
) -> Result<Response, ScError> {
    let service = sc.existing_service(tenant, id)?;
    let keys: Vec<String> = keys
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(String::from)
        .collect();
    sc.write(Command::DeleteTags(DeleteTags { service, keys })).await?;
    Ok(done())
}
