//! Plays the replay corpus (`tests/clients/replay/*.json`: what java-chassis, go-chassis's
//! sc-client and Spring Cloud's Eureka client send, read from their sources, and what the real
//! servers answer) against a three-node cluster, all files at once, each on its own node, and
//! checks every answer's status, headers and body shape. The format is described in
//! `tests/clients/replay/README.md`.

use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;
use std::time::Instant;

use serde::Deserialize;
use serde_json::Value;

use crate::support::Cluster;

#[derive(Debug, Deserialize)]
struct Replay {
    client: String,
    #[serde(default)]
    node: usize,
    steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
struct Step {
    name: String,
    client_cite: String,
    server_cite: String,
    request: Request,
    expect: Expect,
    #[serde(default)]
    capture: HashMap<String, String>,
    #[serde(default)]
    until_secs: u64,
}

#[derive(Debug, Deserialize)]
struct Request {
    method: String,
    path: String,
    #[serde(default)]
    headers: HashMap<String, String>,
    body_text: Option<String>,
    body: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Expect {
    status: u16,
    #[serde(default)]
    headers: HashMap<String, String>,
    body: Option<Value>,
    body_text: Option<String>,
}

/// An answer as the checks see it.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.text).ok()
    }
}

/// `${name}` replaced by captured values.
fn interpolate(text: &str, vars: &HashMap<String, String>) -> String {
    let mut out = text.to_string();
    for (name, value) in vars {
        out = out.replace(&format!("${{{name}}}"), value);
    }
    out
}

fn interpolate_json(value: &Value, vars: &HashMap<String, String>) -> Value {
    match value {
        Value::String(s) => Value::String(interpolate(s, vars)),
        Value::Array(items) => Value::Array(items.iter().map(|v| interpolate_json(v, vars)).collect()),
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(k, v)| (k.clone(), interpolate_json(v, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Checks `actual` (absent: `None`) against `template` at `at`, collecting every difference.
fn check(template: &Value, actual: Option<&Value>, at: &str, vars: &HashMap<String, String>, errors: &mut Vec<String>) {
    let mut fail = |what: String| errors.push(format!("{at}: {what}, got {}", show(actual)));
    match template {
        Value::String(t) if t == "$absent" => {
            if actual.is_some() {
                fail("expected absent".into());
            }
        }
        Value::String(t) if t.starts_with('$') && !t.starts_with("${") => {
            let ok = match (t.as_str(), actual) {
                (_, None) => false,
                ("$any", Some(_)) => true,
                ("$string", Some(v)) => v.is_string(),
                ("$number", Some(v)) => v.is_number(),
                ("$bool", Some(v)) => v.is_boolean(),
                ("$object", Some(v)) => v.is_object(),
                ("$array", Some(v)) => v.is_array(),
                ("$nonempty", Some(v)) => match v {
                    Value::String(s) => !s.is_empty(),
                    Value::Array(a) => !a.is_empty(),
                    Value::Object(o) => !o.is_empty(),
                    _ => false,
                },
                (other, _) => panic!("unknown template token {other} at {at}"),
            };
            if !ok {
                fail(format!("expected {t}"));
            }
        }
        Value::String(t) => {
            let want = interpolate(t, vars);
            if actual.and_then(Value::as_str) != Some(want.as_str()) {
                fail(format!("expected {want:?}"));
            }
        }
        Value::Object(members) if ["$each", "$contains", "$len"].iter().any(|k| members.contains_key(*k)) => {
            let Some(items) = actual.and_then(Value::as_array) else {
                return fail("expected an array".into());
            };
            if let Some(len) = members.get("$len").and_then(Value::as_u64) {
                if items.len() as u64 != len {
                    fail(format!("expected {len} elements"));
                }
            }
            if let Some(each) = members.get("$each") {
                for (i, item) in items.iter().enumerate() {
                    check(each, Some(item), &format!("{at}[{i}]"), vars, errors);
                }
            }
            if let Some(wanted) = members.get("$contains") {
                let found = items.iter().any(|item| {
                    let mut scratch = Vec::new();
                    check(wanted, Some(item), at, vars, &mut scratch);
                    scratch.is_empty()
                });
                if !found {
                    errors.push(format!("{at}: no element matches {wanted}, got {}", show(actual)));
                }
            }
        }
        Value::Object(members) => {
            let Some(object) = actual.and_then(Value::as_object) else {
                return fail("expected an object".into());
            };
            for (key, t) in members {
                check(t, object.get(key), &format!("{at}.{key}"), vars, errors);
            }
        }
        Value::Array(templates) => {
            let Some(items) = actual.and_then(Value::as_array) else {
                return fail("expected an array".into());
            };
            if items.len() != templates.len() {
                return fail(format!("expected {} elements", templates.len()));
            }
            for (i, (t, item)) in templates.iter().zip(items).enumerate() {
                check(t, Some(item), &format!("{at}[{i}]"), vars, errors);
            }
        }
        Value::Number(n) => {
            if actual.and_then(Value::as_f64) != n.as_f64() {
                fail(format!("expected {n}"));
            }
        }
        literal => {
            if actual != Some(literal) {
                fail(format!("expected {literal}"));
            }
        }
    }
}

fn show(value: Option<&Value>) -> String {
    let text = value.map_or_else(|| "nothing".to_string(), Value::to_string);
    if text.len() > 300 {
        format!("{}…", &text[..300])
    } else {
        text
    }
}

/// Every difference between `answer` and `expect`.
fn differences(expect: &Expect, answer: &Answer, vars: &HashMap<String, String>) -> Vec<String> {
    let mut errors = Vec::new();
    if answer.status != expect.status {
        errors.push(format!("status {} (expected {})", answer.status, expect.status));
    }
    for (name, want) in &expect.headers {
        let got = answer
            .headers
            .get(name.as_str())
            .map(|v| Value::String(v.to_str().unwrap_or("<not text>").to_string()));
        check(
            &Value::String(want.clone()),
            got.as_ref(),
            &format!("header {name}"),
            vars,
            &mut errors,
        );
    }
    if let Some(text) = &expect.body_text {
        let want = interpolate(text, vars);
        if answer.text != want {
            errors.push(format!("body {:?} (expected {want:?})", answer.text));
        }
    }
    if let Some(template) = &expect.body {
        match answer.json() {
            Some(json) => check(template, Some(&json), "body", vars, &mut errors),
            None => errors.push(format!("body is not JSON: {:?}", answer.text)),
        }
    }
    errors
}

async fn send(client: &reqwest::Client, base: &str, request: &Request, vars: &HashMap<String, String>) -> Answer {
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap();
    let mut builder = client.request(method, format!("{base}{}", interpolate(&request.path, vars)));
    for (name, value) in &request.headers {
        builder = builder.header(name, interpolate(value, vars));
    }
    if let Some(text) = &request.body_text {
        builder = builder.body(interpolate(text, vars));
    } else if let Some(body) = &request.body {
        builder = builder.body(interpolate_json(body, vars).to_string());
    }
    let response = builder.send().await.unwrap();
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: response.text().await.unwrap(),
    }
}

fn capture(answer: &Answer, from: &str) -> Option<String> {
    if let Some(name) = from.strip_prefix("header:") {
        return Some(answer.headers.get(name)?.to_str().ok()?.to_string());
    }
    match answer.json()?.pointer(from)? {
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Plays one file on `base`; every failure names the file, the step and the differences.
async fn play(file: PathBuf, replay: Replay, client: reqwest::Client, base: String) {
    let steps = replay.steps.len();
    let mut vars = HashMap::new();
    let started = Instant::now();
    // What was played so far (ms since the start, status, step), shown when a step fails.
    let mut played: Vec<String> = Vec::new();
    for (n, step) in replay.steps.iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(step.until_secs);
        let (answer, errors) = loop {
            let answer = send(&client, &base, &step.request, &vars).await;
            let errors = differences(&step.expect, &answer, &vars);
            if errors.is_empty() || Instant::now() >= deadline {
                break (answer, errors);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        played.push(format!(
            "{:>6} ms  {}  step {n} {}",
            started.elapsed().as_millis(),
            answer.status,
            step.name
        ));
        assert!(
            errors.is_empty(),
            "{}\n{} ({}), step {n} \"{}\": {} {}\n  client: {}\n  server: {}\n  {}\n  answer: {} {:?}",
            played.join("\n"),
            file.display(),
            replay.client,
            step.name,
            step.request.method,
            interpolate(&step.request.path, &vars),
            step.client_cite,
            step.server_cite,
            errors.join("\n  "),
            answer.status,
            answer.text.chars().take(600).collect::<String>(),
        );
        for (name, from) in &step.capture {
            let value = capture(&answer, from)
                .unwrap_or_else(|| panic!("{}, step {n}: nothing to capture at {from}", file.display()));
            vars.insert(name.clone(), value);
        }
    }
    eprintln!(
        "{}: {steps} steps as the real server answers, in {:?}",
        file.display(),
        started.elapsed()
    );
}

fn corpus() -> Vec<(PathBuf, Replay)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/clients/replay");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let replay = serde_json::from_slice(&std::fs::read(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, replay)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_clients_requests_get_the_real_servers_answers() {
    let corpus = corpus();
    assert!(corpus.len() >= 3, "java-chassis, go-chassis and Spring Cloud at least");
    // Short ServiceCenter leases, so the expiry steps take seconds; the mass-expiry guard stays
    // at its default, so a lone expiry goes through as the clients expect.
    let cluster = Cluster::start(3, &["--servicecenter-min-interval", "1", "--lease-tick-ms", "100"]);
    cluster.wait_healthy(Duration::from_secs(30)).await;
    cluster.leader(Duration::from_secs(30)).await;
    // A ServiceCenter has registered itself before clients come (`InitRegistration`); here each
    // member's instance of SERVICECENTER appears once its announcer's entry applies, a moment
    // after the cluster is healthy. The replays start from there.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = cluster.get_json(0, "/v4/default/registry/health").await;
        let listed = health
            .as_ref()
            .and_then(|h| h["instances"].as_array())
            .map_or(0, Vec::len);
        if listed == cluster.nodes.len() {
            break;
        }
        assert!(Instant::now() < deadline, "members never announced: {health:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let plays: Vec<_> = corpus
        .into_iter()
        .map(|(file, replay)| {
            let base = cluster.nodes[replay.node % cluster.nodes.len()].url("");
            tokio::spawn(play(file, replay, cluster.client.clone(), base))
        })
        .collect();
    for play in plays {
        if let Err(e) = play.await {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

#[test]
fn the_matcher_catches_what_differs() {
    let vars = HashMap::from([("id".to_string(), "42".to_string())]);
    let errors = |template: Value, actual: Value| {
        let mut e = Vec::new();
        check(&template, Some(&actual), "body", &vars, &mut e);
        e
    };
    let good =
        serde_json::json!({"serviceId": "42", "port": {"$": 8080, "@enabled": "true"}, "list": [1, 2], "extra": true});
    let template = serde_json::json!({"serviceId": "${id}", "port": {"$": 8080, "@enabled": "$string"}, "list": {"$each": "$number", "$len": 2}, "gone": "$absent"});
    assert!(errors(template.clone(), good.clone()).is_empty());
    let bad = serde_json::json!({"serviceId": "43", "port": {"$": "8080", "@enabled": true}, "list": [1, "x", 3], "gone": null});
    assert_eq!(errors(template, bad).len(), 6);
    assert_eq!(
        errors(
            serde_json::json!({"$contains": {"a": 1}}),
            serde_json::json!([{"a": 2}])
        )
        .len(),
        1
    );
    assert!(errors(
        serde_json::json!({"$contains": {"a": 1}}),
        serde_json::json!([{"a": 2}, {"a": 1}])
    )
    .is_empty());
}
