//! A missing, locked or corrupt data directory, or a bad configuration, gives a clear message
//! and a non-zero exit, never a panic.

use std::process::Command;
use std::process::Output;
use std::time::Duration;
use std::time::Instant;

use crate::support::free_port;
use crate::support::BIN;

fn run_to_exit(args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("registryd {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn single_node_args(data: &str) -> Vec<String> {
    vec![
        "--data-dir".into(),
        data.into(),
        "--http".into(),
        format!("127.0.0.1:{}", free_port()),
        "--raft".into(),
        format!("127.0.0.1:{}", free_port()),
    ]
}

fn assert_clean_failure(out: &Output, code: i32, words: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(stderr.contains(words), "expected {words:?} in: {stderr}");
    assert!(!stderr.contains("panicked"), "must not panic: {stderr}");
}

fn run_single(data: &str) -> Output {
    let args = single_node_args(data);
    run_to_exit(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn a_data_directory_under_a_missing_parent_is_refused() {
    let out = run_single("/nonexistent-parent/registry/data");
    assert_clean_failure(&out, 1, "parent directory does not exist");
}

#[test]
fn a_data_directory_that_is_a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data");
    std::fs::write(&file, "not a directory").unwrap();
    assert_clean_failure(&run_single(file.to_str().unwrap()), 1, "is not a directory");
}

#[test]
fn a_locked_data_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = single_node_args(data.to_str().unwrap());
    let mut first = Command::new(BIN)
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !data.join("db").exists() {
        assert!(Instant::now() < deadline, "first node never created its store");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let out = run_single(data.to_str().unwrap());
    let _ = first.kill();
    let _ = first.wait();
    assert_clean_failure(&out, 1, "locked by another process");
}

#[test]
fn a_corrupt_data_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("conf"), b"\x00\xffgarbage that is not a sled config\x13\x37").unwrap();
    std::fs::write(data.join("db"), vec![0xAB; 4096]).unwrap();
    let out = run_single(data.to_str().unwrap());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("data directory"), "stderr: {stderr}");
}

#[test]
fn bad_configuration_exits_with_code_2() {
    let out = run_to_exit(&["--peers", "1=127.0.0.1:1,two=x"]);
    assert_clean_failure(&out, 2, "invalid peers");
    let out = run_to_exit(&["--node-id", "3", "--peers", "1=127.0.0.1:7101,2=127.0.0.1:7102"]);
    assert_clean_failure(&out, 2, "does not contain this node");
    let out = run_to_exit(&["--config", "/nonexistent/registry.toml"]);
    assert_clean_failure(&out, 2, "cannot read config file");
    // Malformed addresses (issue 21: exited 1, which a systemd unit restarts forever).
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("data").display().to_string();
    for (flag, value) in [
        ("--http", "127.0.0.1:notaport"),
        ("--http", "nonsense"),
        ("--raft", "127.0.0.1:99999"),
        ("--advertise-raft", ":7100"),
    ] {
        let out = run_to_exit(&["--data-dir", &data, flag, value]);
        assert_clean_failure(&out, 2, flag);
    }
}

#[test]
fn a_federation_table_asking_for_what_its_kind_cannot_do_exits_with_code_2() {
    let scratch = tempfile::tempdir().unwrap();
    let config = scratch.path().join("registry.toml");
    std::fs::write(
        &config,
        "cluster_name = \"hub\"\n[[sync]]\nname = \"dc-a\"\nkind = \"cluster\"\nurl = \"http://127.0.0.1:1\"\ndirection = \"both\"\n",
    )
    .unwrap();
    let data = scratch.path().join("data").display().to_string();
    let out = run_to_exit(&["--data-dir", &data, "--config", config.to_str().unwrap()]);
    assert_clean_failure(&out, 2, "a cluster remote only imports");
    assert_clean_failure(&out, 2, "kind = \"cluster\", direction = \"import\"");
}
