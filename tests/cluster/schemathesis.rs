//! Schemathesis (pip-installed by `tests/run.sh`) against one node, with a copy of the upstream
//! ServiceCenter OpenAPI file whose known defects (servicecenter.md §7) are corrected by
//! `tests/clients/servicecenter_spec.py`: a bounded number of generated requests per operation;
//! no 5xx, and every response conforms to the spec (status, content type, schema).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::client_driver::clients_dir;
use crate::client_driver::installed;
use crate::client_driver::python;
use crate::support::Cluster;

fn upstream_spec() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/specs/servicecenter-v4.yaml"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_nonconforming_response() {
    let st = installed(".venv/bin/st");
    assert!(
        upstream_spec().exists(),
        "the shared specs must sit beside the repository: {}",
        upstream_spec().display()
    );
    let cluster = Cluster::start(1, &[]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    let work = tempfile::tempdir().unwrap();
    let spec = work.path().join("servicecenter-v4.corrected.yaml");
    let corrected = Command::new(python())
        .arg(clients_dir().join("servicecenter_spec.py"))
        .arg(upstream_spec())
        .arg(&spec)
        .status()
        .unwrap();
    assert!(corrected.success(), "could not correct the spec");
    let url = cluster.nodes[0].url("");
    let run = tokio::task::spawn_blocking(move || {
        Command::new(&st)
            .current_dir(work.path())
            .args(["run", spec.to_str().unwrap(), "--url", &url])
            .args(["--max-examples", "5", "--max-time", "60", "--seed", "20261121"])
            .args([
                "--checks",
                "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
            ])
            .args([
                "--include-path-regex",
                r"^/v4/\{project\}/(registry|govern/apps)",
                "--exclude-path-regex",
                "watcher",
            ])
            .args(["--phases", "examples,fuzzing", "--request-timeout", "10"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.status.success(), "schemathesis found problems:\n{report}");
    assert!(report.contains("passed"), "schemathesis ran no test case:\n{report}");
}
