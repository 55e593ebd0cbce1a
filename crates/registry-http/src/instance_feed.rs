//! Following the store's change feed for instance changes, from the node's current revision,
//! for in-memory views kept beside the store (Eureka's delta window, the dashboard's recent
//! activity), as a [`Worker`] the binary starts. A follower that falls too far behind starts
//! again from the current revision.

use std::sync::Arc;
use std::sync::Weak;
use std::time::Duration;

use futures::future::BoxFuture;
use registry_store::change::ChangeKind;
use registry_store::feed::FeedError;
use registry_store::model::Instance;
use registry_store::record::Entity;
use registry_store::registry::Registry;
use registry_store::worker::stopped;
use registry_store::worker::StopSignal;
use registry_store::worker::Worker;
use registry_store::worker::WorkerStatus;

/// Calls `on_change(view, instance, kind)` for every instance change `node` applies once it
/// runs, until it is told to stop, `view` is dropped or the node stops.
pub struct FeedFollower<T, F> {
    name: &'static str,
    node: Arc<dyn Registry>,
    view: Weak<T>,
    on_change: F,
}

impl<T, F> FeedFollower<T, F>
where
    T: Send + Sync + 'static,
    F: Fn(&T, &Arc<Instance>, ChangeKind) + Send + Sync + 'static,
{
    pub fn new(name: &'static str, node: Arc<dyn Registry>, view: Weak<T>, on_change: F) -> Self {
        Self {
            name,
            node,
            view,
            on_change,
        }
    }

    async fn follow(self, mut stop: StopSignal, status: WorkerStatus) {
        loop {
            let mut subscription = match self.node.subscribe(self.node.revision()) {
                Ok(subscription) => subscription,
                Err(e) => {
                    status.error(&e);
                    tokio::select! {
                        _ = stopped(&mut stop) => return,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                    }
                }
            };
            loop {
                let change = tokio::select! {
                    _ = stopped(&mut stop) => return,
                    change = subscription.next() => change,
                };
                let change = match change {
                    Ok(change) => change,
                    Err(FeedError::Compacted { .. }) => break,
                    Err(FeedError::Closed) => return,
                };
                let Some(view) = self.view.upgrade() else { return };
                if let Entity::Instance(instance) = &change.entity {
                    (self.on_change)(&view, instance, change.kind);
                    status.activity();
                }
            }
        }
    }
}

impl<T, F> Worker for FeedFollower<T, F>
where
    T: Send + Sync + 'static,
    F: Fn(&T, &Arc<Instance>, ChangeKind) + Send + Sync + 'static,
{
    fn name(&self) -> String {
        self.name.into()
    }

    fn run(self: Box<Self>, stop: StopSignal, status: WorkerStatus) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async move {
            self.follow(stop, status).await;
            Ok(())
        })
    }
}
