//! The ServiceCenter v4 API (`../shared/specs/servicecenter.md`), under `/v4/{project}/registry`.
//!
//! - [`wire`], [`version`], [`mapping`]: ServiceCenter's objects, version rules and their mapping
//!   to the model, shared with the adapters from `registry_store::protocol::servicecenter`.
//! - [`error`]: `errorCode` / `errorMessage` / `detail`; [`validate`]: the input rules of §2.
//! - [`core`]: shared state, body parsing, replies.
//! - [`endpoint`]: a request parsed once (its route, role, tenant, operation, refusals);
//!   [`tenant`]: the tenant (`X-Domain-Name` + `{project}`) and the [`tenant::ScTenant`]
//!   extractor every handler takes it by; [`token`]: `POST /v4/token`.
//! - [`dependency_queue`]: the dependency records finds imply, written in batches off the
//!   read path.
//! - [`services`], [`instances`], [`discovery`], [`schemas`] (and tags), [`meta`]: the endpoints.
//! - [`govern`]: the governance views of services with their instances, schemas and tags.
//! - [`registry_service`]: the cluster's own nodes as the shared `SERVICECENTER` service.
//! - [`watch`]: the WebSocket watcher and heartbeat; [`event_texts`]: watch events encoded once
//!   for all watchers.
//! - [`find_bodies`]: find answers encoded once per revision of what they show.

pub mod batch_find;
pub mod core;
pub mod dependency_queue;
pub mod discovery;
pub mod endpoint;
pub mod error;
pub mod event_texts;
pub mod find_bodies;
pub mod govern;
pub mod instances;
pub mod meta;
pub mod registry_service;
pub mod schemas;
pub mod services;
pub mod tenant;
pub mod token;
pub mod validate;
pub mod watch;

pub use registry_store::protocol::servicecenter::mapping;
pub use registry_store::protocol::servicecenter::version;
pub use registry_store::protocol::servicecenter::wire;

use std::sync::Arc;

use axum::routing::get;
use axum::routing::post;
use axum::routing::put;
use axum::Router;
use registry_store::registry::Registry;

use self::core::Sc;
pub use self::core::ScSettings;
pub use self::dependency_queue::DependencyQueue;

/// The ServiceCenter routes. Finds queue the dependency records they imply on `dependencies`,
/// whose flusher (started by the caller) writes them. Serves from any [`Registry`]: the node, or a
/// fake in tests.
pub fn routes(registry: Arc<dyn Registry>, settings: ScSettings, dependencies: DependencyQueue) -> Router {
    let shared = Arc::new(Sc {
        registry,
        settings,
        dependencies,
        event_texts: Default::default(),
        find_bodies: Default::default(),
    });
    let ms = "/v4/{project}/registry/microservices";
    Router::new()
        .route("/v4/{project}/registry/version", get(meta::version))
        .route("/v4/{project}/registry/health", get(meta::health))
        .route("/v4/{project}/registry/health/readiness", get(meta::readiness))
        .route("/v4/{project}/govern/apps", get(meta::apps))
        .route("/v4/{project}/govern/microservices", get(govern::list))
        .route("/v4/{project}/govern/microservices/{id}", get(govern::get))
        .route("/v4/{project}/registry/existence", get(services::existence))
        .route(
            ms,
            post(services::create).get(services::list).delete(services::delete_many),
        )
        .route(&format!("{ms}/{{id}}"), get(services::get).delete(services::delete))
        .route(&format!("{ms}/{{id}}/properties"), put(services::put_properties))
        .route(&format!("{ms}/{{id}}/providers"), get(discovery::providers))
        .route(&format!("{ms}/{{id}}/consumers"), get(discovery::consumers))
        .route(
            &format!("{ms}/{{id}}/instances"),
            post(instances::register).get(discovery::service_instances),
        )
        .route(
            &format!("{ms}/{{id}}/instances/{{instance}}"),
            get(instances::get).delete(instances::unregister),
        )
        .route(
            &format!("{ms}/{{id}}/instances/{{instance}}/heartbeat"),
            put(instances::heartbeat).get(watch::heartbeat_socket),
        )
        .route(&format!("{ms}/{{id}}/watcher"), get(watch::watcher))
        .route(
            &format!("{ms}/{{id}}/instances/{{instance}}/status"),
            put(instances::set_status),
        )
        .route(
            &format!("{ms}/{{id}}/instances/{{instance}}/properties"),
            put(instances::put_properties),
        )
        .route("/v4/{project}/registry/heartbeats", put(instances::heartbeats))
        .route(
            "/v4/{project}/registry/dependencies",
            post(discovery::add_dependencies).put(discovery::replace_dependencies),
        )
        .route("/v4/{project}/registry/instances", get(discovery::find))
        .route("/v4/{project}/registry/instances/action", post(batch_find::batch_find))
        .route(
            &format!("{ms}/{{id}}/schemas"),
            post(schemas::put_schemas).get(schemas::list_schemas),
        )
        .route(
            &format!("{ms}/{{id}}/schemas/{{schema}}"),
            put(schemas::put_schema)
                .get(schemas::get_schema)
                .delete(schemas::delete_schema),
        )
        .route(
            &format!("{ms}/{{id}}/tags"),
            post(schemas::add_tags).get(schemas::get_tags),
        )
        .route(
            &format!("{ms}/{{id}}/tags/{{key}}"),
            put(schemas::update_tag).delete(schemas::delete_tags),
        )
        .with_state(shared)
}
