//! Following the store's change feed for instance changes, from the node's current revision,
//! for in-memory views kept beside the store (Eureka's delta window, the dashboard's recent
//! activity). A subscriber that falls too far behind starts again from the current revision.

use std::sync::Arc;
use std::sync::Weak;
use std::time::Duration;

use registry_store::change::ChangeKind;
use registry_store::change::Entity;
use registry_store::feed::FeedError;
use registry_store::model::Instance;
use registry_store::node::RegistryNode;

/// Calls `on_change(view, instance, kind)` for every instance change `node` applies from now
/// on, until `view` is dropped or the node stops.
pub fn follow<T, F>(node: RegistryNode, view: Weak<T>, on_change: F)
where
    T: Send + Sync + 'static,
    F: Fn(&T, &Arc<Instance>, ChangeKind) + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            let Ok(mut subscription) = node.subscribe(node.revision()) else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            loop {
                let change = match subscription.next().await {
                    Ok(change) => change,
                    Err(FeedError::Compacted { .. }) => break,
                    Err(FeedError::Closed) => return,
                };
                let Some(view) = view.upgrade() else { return };
                if let Entity::Instance(instance) = &change.entity {
                    on_change(&view, instance, change.kind);
                }
            }
        }
    });
}
