//! `GET /admin/workers` lists the node's background workers as running (the node's own, the
//! federation and its sync workers on the leader, the change-feed followers, the Eureka full-fetch keeper, ServiceCenter's
//! dependency writer, the Nacos UDP push, the Nacos gRPC leases and pushes), and SIGTERM stops every one of them on its stop signal: the process
//! exits cleanly, and no worker is left behind past its bounded wait.

use std::time::Duration;
use std::time::Instant;

use serde_json::Value;

use crate::support::free_port;
use crate::support::Cluster;

const EXPECTED: [&str; 12] = [
    "lease-keeper",
    "announcer",
    "federation",
    "eureka-delta",
    "eureka-full-fetch",
    "dashboard-recent",
    "sc-dependencies",
    "nacos-udp-push",
    "nacos-grpc-leases",
    "nacos-grpc-push",
    "sync-import:nowhere",
    "sync-export:nowhere",
];

fn states(report: &Value) -> Vec<(String, String)> {
    report["workers"]
        .as_array()
        .map(|workers| {
            workers
                .iter()
                .map(|w| {
                    (
                        w["name"].as_str().unwrap_or_default().to_string(),
                        w["state"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_are_listed_running_and_stop_on_sigterm() {
    let mut cluster = Cluster::new(1, &[]);
    // A federation peer nobody answers at: its workers run (and fail their rounds) all the same.
    cluster.use_config(&format!(
        "[[sync]]\nname = \"nowhere\"\nkind = \"eureka\"\nurl = \"http://127.0.0.1:{}/eureka\"\ndirection = \"both\"\ninterval_ms = 200\n",
        free_port()
    ));
    cluster.start_all();
    cluster.wait_healthy(Duration::from_secs(30)).await;
    cluster.leader(Duration::from_secs(10)).await;

    // The sync workers start once the node leads: wait (bounded) until every worker is listed.
    let deadline = Instant::now() + Duration::from_secs(20);
    let listed = loop {
        let report = cluster.get_json(0, "/admin/workers").await.unwrap_or_default();
        let listed = states(&report);
        if EXPECTED.iter().all(|name| listed.iter().any(|(n, _)| n == name)) {
            break listed;
        }
        assert!(Instant::now() < deadline, "not every worker listed: {report}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for name in EXPECTED {
        let state = listed.iter().find(|(n, _)| n == name).map(|(_, s)| s.as_str());
        assert_eq!(state, Some("running"), "{name} in {listed:?}");
    }

    let code = cluster.nodes[0].terminate();
    let log = std::fs::read_to_string(&cluster.nodes[0].log).unwrap_or_default();
    assert_eq!(code, Some(0), "registryd did not stop cleanly on SIGTERM; log:\n{log}");
    assert!(
        !log.contains("did not stop in"),
        "a worker outlived its stop signal; log:\n{log}"
    );
}
