//! `registryctl` end to end against real clusters: status and members of a three-node cluster,
//! a member added as learner, promoted and removed, and a backup saved from one cluster
//! (through a follower) and restored into a fresh one, which then serves the same instances; a
//! second restore is refused. Draining the leader moves leadership away while writes go on,
//! none refused.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use crate::support::Cluster;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs registryctl against `server`; its exit code and output.
pub async fn registryctl(server: &str, args: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_registryctl"))
        .arg("--server")
        .arg(server)
        .args(args)
        .output()
        .await
        .expect("registryctl runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn json_of(server: &str, args: &[&str]) -> Value {
    let mut with_json = vec!["--json"];
    with_json.extend_from_slice(args);
    let run = registryctl(server, &with_json).await;
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", run.stdout))
}

/// `members list` once it shows `count` members (the node answering applies a membership change
/// a moment after the leader committed it), or as it is after 10 s.
async fn members_once(server: &str, count: usize) -> Value {
    let mut members = json_of(server, &["members", "list"]).await;
    for _ in 0..100 {
        if members.as_array().unwrap().len() == count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        members = json_of(server, &["members", "list"]).await;
    }
    members
}

/// `status` once it shows `count` members, all UP. Members announce their HTTP addresses
/// shortly after they start; until then their health is unknown.
async fn status_all_up(server: &str, count: usize) -> Value {
    let all_up = |status: &Value| {
        let members = status["members"].as_array().unwrap();
        members.len() == count && members.iter().all(|m| m["health"] == "UP")
    };
    let mut status = json_of(server, &["status"]).await;
    for _ in 0..200 {
        if all_up(&status) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = json_of(server, &["status"]).await;
    }
    assert!(all_up(&status), "{status}");
    status
}

/// (service id, instance id, host, status) of every instance node `i` holds.
async fn instances(cluster: &Cluster, i: usize) -> BTreeSet<(String, String, String, String)> {
    let list = cluster
        .get_json(i, "/admin/registry/instances")
        .await
        .expect("instances");
    list["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            (s("service_id"), s("id"), s("host_name"), s("status"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_members_and_a_backup_restored_into_a_fresh_cluster() {
    let mut source = Cluster::start(3, &[]);
    source.wait_healthy(Duration::from_secs(30)).await;
    for n in 0..60 {
        source
            .register(n % 3, &format!("svc-{}", n % 4), &format!("i-{n}"), None)
            .await
            .unwrap();
    }
    source.wait_converged(Duration::from_secs(20)).await;
    let leader = source.leader(Duration::from_secs(10)).await;
    let follower = (leader + 1) % 3;
    let server = source.nodes[follower].url("");

    let status = status_all_up(&server, 3).await;
    assert_eq!(status["leader_id"], source.nodes[leader].id);
    let members = status["members"].as_array().unwrap();
    assert_eq!(members.iter().filter(|m| m["role"] == "leader").count(), 1);
    let table = registryctl(&server, &["status"]).await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    for i in 0..3 {
        assert!(table.stdout.contains(&source.raft_addr(i)), "{}", table.stdout);
    }

    // A fourth node joins through registryctl, then leaves.
    let joiner = source.add_joiner();
    source.nodes[joiner].start();
    let id = source.nodes[joiner].id.to_string();
    let raft = source.raft_addr(joiner);
    // As a learner first, then promoted to voter.
    json_of(&server, &["members", "add", &id, &raft, "--learner"]).await;
    let members = members_once(&server, 4).await;
    let role_of = |members: &Value| {
        members
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == source.nodes[joiner].id)
            .map(|m| m["role"].clone())
    };
    assert_eq!(role_of(&members), Some("learner".into()), "{members}");
    json_of(&server, &["members", "promote", &id]).await;
    let mut members = json_of(&server, &["members", "list"]).await;
    for _ in 0..100 {
        if role_of(&members) == Some("follower".into()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        members = json_of(&server, &["members", "list"]).await;
    }
    assert_eq!(role_of(&members), Some("follower".into()), "{members}");
    let again = registryctl(&server, &["members", "promote", &id]).await;
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("already a voter"), "{}", again.stderr);
    json_of(&server, &["members", "remove", &id]).await;
    let members = members_once(&server, 3).await;
    let ids: Vec<&Value> = members.as_array().unwrap().iter().map(|m| &m["id"]).collect();
    assert!(!ids.contains(&&Value::from(source.nodes[joiner].id)), "{members}");
    assert_eq!(ids.len(), 3, "{members}");

    // Backup through a follower, restore into a fresh single-node cluster.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("registry.backup");
    let file = file.to_str().unwrap();
    let saved = json_of(&server, &["snapshot", "save", file]).await;
    assert!(
        saved["records"].as_u64().unwrap() >= 64,
        "60 instances, 4 services: {saved}"
    );
    let expected = instances(&source, follower).await;
    assert_eq!(expected.len(), 60);

    let target = Cluster::start(1, &[]);
    target.wait_healthy(Duration::from_secs(30)).await;
    let target_server = target.nodes[0].url("");
    let restored = json_of(&target_server, &["snapshot", "restore", file]).await;
    assert_eq!(restored["records"], saved["records"], "{restored}");
    assert_eq!(instances(&target, 0).await, expected);

    // Instances, filtered on the node, and one in full.
    let svc1 = json_of(
        &target_server,
        &["instances", "list", "--service", "svc-1", "--status", "up"],
    )
    .await;
    assert_eq!(svc1["instances"].as_array().unwrap().len(), 15, "{svc1}");
    let none = json_of(&target_server, &["instances", "list", "--origin", "dc2"]).await;
    assert!(none["instances"].as_array().unwrap().is_empty(), "{none}");
    let one = json_of(&target_server, &["instances", "get", "svc-1", "i-1"]).await;
    assert_eq!(
        (one["service_id"].as_str(), one["id"].as_str()),
        (Some("svc-1"), Some("i-1"))
    );
    let listed = registryctl(&target_server, &["instances", "list"]).await;
    assert!(listed.stdout.contains("60 instances at revision"), "{}", listed.stdout);
    // Human output (issue 21): a filter matching nothing says so; one instance in full shows
    // dates, not milliseconds or encoded fields.
    let nothing = registryctl(&target_server, &["instances", "list", "--origin", "dc2"]).await;
    assert!(
        nothing.stdout.contains("no instance matches --origin dc2"),
        "{}",
        nothing.stdout
    );
    let full = registryctl(&target_server, &["instances", "get", "svc-1", "i-1"]).await;
    assert_eq!(full.code, 0, "{}", full.stderr);
    for shown in ["last heartbeat", "registered", "GMT", "renew every 30 s"] {
        assert!(full.stdout.contains(shown), "{shown}: {}", full.stdout);
    }
    assert!(!full.stdout.contains("_ms"), "{}", full.stdout);
    // A ServiceCenter service (its id a UUID) is listed and found by its name.
    let client = reqwest::Client::new();
    let created: Value = client
        .post(format!("{target_server}/v4/default/registry/microservices"))
        .json(&serde_json::json!({"service": {"appId": "shop", "serviceName": "orders", "version": "1.0.0"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let service_id = created["serviceId"].as_str().expect("serviceId").to_string();
    let registered = client
        .post(format!(
            "{target_server}/v4/default/registry/microservices/{service_id}/instances"
        ))
        .json(&serde_json::json!({"instance": {"hostName": "orders-1", "endpoints": ["rest://10.0.0.9:8080"]}}))
        .send()
        .await
        .unwrap();
    assert!(registered.status().is_success(), "{:?}", registered.text().await);
    let by_name = registryctl(&target_server, &["instances", "list", "--service", "orders"]).await;
    assert!(by_name.stdout.contains("orders-1"), "{}", by_name.stdout);
    assert!(by_name.stdout.contains("1 instance at revision"), "{}", by_name.stdout);
    assert!(
        !by_name.stdout.contains(&service_id),
        "listed by name: {}",
        by_name.stdout
    );
    let missing = registryctl(&target_server, &["instances", "get", "svc-1", "nope"]).await;
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("no instance nope in service svc-1"),
        "{}",
        missing.stderr
    );

    // A registry that is not empty refuses a restore, and says why.
    let again = registryctl(&target_server, &["snapshot", "restore", file]).await;
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("restore needs an empty one"), "{}", again.stderr);
    // Garbage is refused before it reaches the node.
    std::fs::write(dir.path().join("junk"), b"not a backup").unwrap();
    let junk = registryctl(
        &target_server,
        &["snapshot", "restore", dir.path().join("junk").to_str().unwrap()],
    )
    .await;
    assert_eq!(junk.code, 1);
    assert!(junk.stderr.contains("is not a registry backup"), "{}", junk.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_moves_leadership_away_while_writes_go_on() {
    let cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let follower = (leader + 1) % 3;
    let server = cluster.nodes[follower].url("");
    let leader_id = cluster.nodes[leader].id;
    // registryctl reaches the node to drain through its announced HTTP address.
    status_all_up(&server, 3).await;

    // Writes through a follower all along; none may fail.
    let writer = {
        let base = cluster.nodes[follower].url("");
        let client = cluster.client.clone();
        tokio::spawn(async move {
            let mut failures = Vec::new();
            for n in 0..150 {
                let registered =
                    crate::support::register_at(&client, &base, "drain-svc", &format!("i-{n}"), None).await;
                if let Err(e) = registered {
                    failures.push(e);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            failures
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let drained = json_of(&server, &["drain", &leader_id.to_string()]).await;
    assert_eq!(drained["drained"], true, "{drained}");
    let new_leader = drained["leader_id"].as_u64().unwrap();
    assert_ne!(new_leader, leader_id, "{drained}");
    assert_eq!(
        writer.await.unwrap(),
        Vec::<String>::new(),
        "writes failed during the hand-over"
    );
    assert_eq!(cluster.instance_ids(follower, "drain-svc").await.len(), 150);

    // The drained node says so, and stays out of the running.
    let health = cluster.get_json(leader, "/health").await.unwrap();
    assert_eq!(health["drained"], true, "{health}");
    let table = registryctl(&server, &["status"]).await;
    assert!(table.stdout.contains("UP (drained)"), "{}", table.stdout);
    let now = cluster.leader(Duration::from_secs(10)).await;
    assert_ne!(now, leader);

    let undrained = json_of(&server, &["undrain", &leader_id.to_string()]).await;
    assert_eq!(undrained["drained"], false, "{undrained}");
    let health = cluster.get_json(leader, "/health").await.unwrap();
    assert_eq!(health["drained"], false, "{health}");

    // A lone node has no one to hand over to: refused, and it leads on.
    let single = Cluster::start(1, &[]);
    single.wait_healthy(Duration::from_secs(30)).await;
    status_all_up(&single.nodes[0].url(""), 1).await;
    let refused = registryctl(&single.nodes[0].url(""), &["drain", "1"]).await;
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("no other voter"), "{}", refused.stderr);
    let health = single.get_json(0, "/health").await.unwrap();
    assert_eq!(health["drained"], false, "{health}");
}

/// A drained node stays out of elections even when a draining leader would pick it as its
/// successor (the most caught-up voter; on a tie, the highest id): the leader passes it over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_the_leader_passes_over_a_follower_drained_before() {
    let cluster = Cluster::start(3, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let mut followers: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    followers.sort_by_key(|&i| cluster.nodes[i].id);
    let (kept, drained_first) = (followers[0], followers[1]);
    let client = cluster.client.clone();
    let drain = |i: usize| client.post(cluster.nodes[i].url("/admin/drain")).send();

    let first = crate::support::send_json(client.post(cluster.nodes[drained_first].url("/admin/drain"))).await;
    assert_eq!(first["drained"], true, "{first}");
    let answer = drain(leader).await.unwrap();
    assert_eq!(answer.status(), 200);
    let handed: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(
        handed["leader_id"].as_u64(),
        Some(cluster.nodes[kept].id),
        "leadership must go to the node still in the running: {handed}"
    );
    assert_eq!(cluster.leader(Duration::from_secs(10)).await, kept);
    for i in [leader, drained_first] {
        client
            .delete(cluster.nodes[i].url("/admin/drain"))
            .send()
            .await
            .unwrap();
    }
}

/// Several servers (issue 21): the first cannot be reached, the command still answers through
/// the next; a server written without a scheme is taken as `http://`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_server_answers_when_the_first_is_down() {
    let cluster = Cluster::start(1, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let node = cluster.nodes[0].url("");
    let scheme_less = node.trim_start_matches("http://").trim_end_matches('/');
    // Port 1 on loopback: nothing listens, the connection is refused.
    for servers in [
        format!("127.0.0.1:1,{scheme_less}"),
        format!("http://127.0.0.1:1, {node}"),
    ] {
        let run = registryctl(&servers, &["status"]).await;
        assert_eq!(run.code, 0, "{servers}: {}", run.stderr);
        assert!(run.stdout.contains("leader 1"), "{servers}: {}", run.stdout);
    }
    let run = registryctl("127.0.0.1:1", &["status"]).await;
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("cannot reach http://127.0.0.1:1"), "{}", run.stderr);
}
