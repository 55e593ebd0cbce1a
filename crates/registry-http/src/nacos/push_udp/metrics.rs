//! The UDP push's metrics under `/metrics` (`registry_nacos_udp_*`): subscribers held, and
//! pushes sent, retried, acknowledged, unacknowledged and dropped, and subscriptions refused.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::UdpPush;

fn counter(registry: &mut Registry, name: &str, help: &str, value: &AtomicU64) {
    let counter = Counter::<u64>::default();
    counter.inc_by(value.load(Ordering::Relaxed));
    registry.register(name, help, counter);
}

/// Registers the push's metrics, as they stand now, in `registry` (prefixed `registry_`).
pub fn register(registry: &mut Registry, push: &UdpPush) {
    let subscribers = Gauge::<i64>::default();
    subscribers.set(i64::try_from(push.subscribers()).unwrap_or(i64::MAX));
    registry.register(
        "nacos_udp_subscribers",
        "Nacos v1 subscribers (list requests with a udpPort) this node pushes to",
        subscribers,
    );
    let c = &push.counters;
    counter(
        registry,
        "nacos_udp_pushes",
        "UDP push datagrams sent, retries included",
        &c.pushes,
    );
    counter(
        registry,
        "nacos_udp_push_retries",
        "UDP pushes sent again for want of an ack",
        &c.retries,
    );
    counter(registry, "nacos_udp_push_acks", "Acks received for UDP pushes", &c.acks);
    counter(
        registry,
        "nacos_udp_pushes_unacknowledged",
        "UDP pushes given up after the retry went unanswered",
        &c.unacknowledged,
    );
    counter(
        registry,
        "nacos_udp_pushes_dropped",
        "UDP pushes not sent: over a rate, too large for a datagram, or the send failed",
        &c.dropped,
    );
    counter(
        registry,
        "nacos_udp_subscriptions_refused",
        "List requests with a udpPort not subscribed: the subscriber table or the address's share of it is full",
        &c.refused,
    );
}
