//! TLS across real processes, with certificates the test makes (rcgen): three nodes serving
//! HTTPS and talking mutual TLS to each other, with users; an unmodified py-eureka-client with
//! Basic credentials in an `https://` URL, trusting the test CA; registryctl over HTTPS; plain
//! HTTP refused; and a node whose certificate another CA signed kept out of the cluster.

use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;
use std::time::Instant;

use rcgen::BasicConstraints;
use rcgen::CertificateParams;
use rcgen::CertifiedIssuer;
use rcgen::DnType;
use rcgen::IsCa;
use rcgen::KeyPair;

use crate::auth::basic;
use crate::auth::orders_client_refused_then_registered;
use crate::auth::SECRET;
use crate::auth::USERS;
use crate::registryctl::registryctl;
use crate::registryctl::Run;
use crate::support::Cluster;

/// A CA and a certificate it signed for `localhost` and 127.0.0.1, as PEM files in `dir`:
/// (certificate, key, CA certificate).
fn certificates(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("{name} test CA"));
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, format!("{name} registry node"));
    let cert = params.signed_by(&key, &ca).unwrap();
    let paths = (
        dir.join(format!("{name}-node.pem")),
        dir.join(format!("{name}-node.key")),
        dir.join(format!("{name}-ca.pem")),
    );
    std::fs::write(&paths.0, cert.pem()).unwrap();
    std::fs::write(&paths.1, key.serialize_pem()).unwrap();
    std::fs::write(&paths.2, ca.pem()).unwrap();
    paths
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_over_tls_serves_real_clients_and_refuses_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, ca) = certificates(dir.path(), "ours");
    let mut cluster = Cluster::new(3, &["--cluster-secret", SECRET, "--lease-tick-ms", "200"]);
    cluster.use_config(USERS);
    cluster.use_tls(&cert, &key, &ca);
    cluster.start_all();
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let anonymous = cluster.client.clone();
    let root = reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap();
    cluster.client = reqwest::Client::builder()
        .add_root_certificate(root)
        .default_headers(basic("admin", "admin-password"))
        .build()
        .unwrap();
    let leader = cluster.leader(Duration::from_secs(10)).await;
    let follower = (leader + 1) % 3;

    // Plain HTTP on the HTTPS port gets no answer.
    let plain = reqwest::get(cluster.nodes[follower].url("/health").replace("https://", "http://")).await;
    assert!(plain.is_err(), "{plain:?}");
    // py-eureka-client over HTTPS with credentials in the URL, trusting the test CA.
    let ca_file = ca.display().to_string();
    let mut py =
        orders_client_refused_then_registered(&cluster, follower, &anonymous, "SECURE", &[("SSL_CERT_FILE", &ca_file)])
            .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let apps = cluster.get_json(leader, "/eureka/apps").await.unwrap();
        if apps["applications"]["application"][0]["name"] == "SECURE" {
            break;
        }
        assert!(Instant::now() < deadline, "{apps}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // registryctl over HTTPS: every member's health is probed over HTTPS too (once members
    // have announced their addresses).
    let server = cluster.nodes[follower].url("");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let Run { code, stdout, stderr } = registryctl(
            &server,
            &["--ca", &ca_file, "--user", "admin:admin-password", "--json", "status"],
        )
        .await;
        assert_eq!(code, 0, "{stderr}");
        let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let members = status["members"].as_array().unwrap();
        if members.iter().all(|m| m["health"] == "UP") {
            break;
        }
        assert!(Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let Run { code, stderr, .. } = registryctl(&server, &["--user", "admin:admin-password", "status"]).await;
    assert_eq!(code, 1, "an unknown CA is not trusted");
    assert!(stderr.contains("cannot reach"), "{stderr}");
    assert_eq!(py.ask("stop")["event"], "stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_a_certificate_from_another_ca_is_kept_out() {
    let dir = tempfile::tempdir().unwrap();
    let ours = certificates(dir.path(), "ours");
    let theirs = certificates(dir.path(), "theirs");
    let mut cluster = Cluster::new(3, &[]);
    cluster.use_tls(&ours.0, &ours.1, &ours.2);
    // Node 3 presents a certificate of another CA (and trusts only that one).
    let args = &mut cluster.nodes[2].args;
    for (flag, path) in [
        ("--tls-cert", &theirs.0),
        ("--tls-key", &theirs.1),
        ("--tls-ca", &theirs.2),
    ] {
        let at = args.iter().rposition(|a| a == flag).unwrap();
        args[at + 1] = path.display().to_string();
    }
    cluster.start_all();
    // Node 3 serves HTTPS with the other CA's certificate: ask it trusting that CA.
    let theirs_root = reqwest::Certificate::from_pem(&std::fs::read(&theirs.2).unwrap()).unwrap();
    let to_node_3 = reqwest::Client::builder()
        .add_root_certificate(theirs_root)
        .build()
        .unwrap();
    cluster.assert_kept_out(2, &to_node_3).await;
}
