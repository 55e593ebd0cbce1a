//! Drivers for real client scripts in `tests/clients/`: a script reads commands on stdin and
//! answers each with one JSON line; [`Client`] sends them and waits, bounded, for the answers.

use std::io::BufRead;
use std::io::BufReader;
use std::io::Write;
use std::path::PathBuf;
use std::process::Child;
use std::process::ChildStdin;
use std::process::Command;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;
use std::time::Instant;

use serde_json::Value;

/// Where `tests/run.sh` installs the real clients (`.venv`, `node_modules`) and their drivers.
pub fn clients_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/clients"))
}

/// The venv's Python (with py-eureka-client and schemathesis); fails clearly if missing.
pub fn python() -> PathBuf {
    installed(".venv/bin/python")
}

/// A path under [`clients_dir`] that `tests/run.sh` installs; fails clearly if missing.
pub fn installed(relative: &str) -> PathBuf {
    let path = clients_dir().join(relative);
    assert!(
        path.exists(),
        "{} is missing: run `bash tests/run.sh`, which installs the real clients",
        path.display()
    );
    path
}

/// A client driver script: commands in on stdin, one JSON event out per command.
pub struct Client {
    name: &'static str,
    child: Child,
    stdin: ChildStdin,
    events: mpsc::Receiver<Value>,
}

impl Client {
    pub fn spawn(name: &'static str, program: PathBuf, args: &[String]) -> Client {
        Self::spawn_with_env(name, program, args, &[])
    }

    /// Like [`Client::spawn`], with extra environment variables.
    pub fn spawn_with_env(name: &'static str, program: PathBuf, args: &[String], env: &[(&str, &str)]) -> Client {
        let mut child = Command::new(&program)
            .args(args)
            .envs(env.iter().copied())
            .current_dir(clients_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e}; run `bash tests/run.sh`, which installs the clients",
                    program.display()
                )
            });
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send(v).is_err() {
                        return;
                    }
                }
            }
        });
        Client {
            name,
            child,
            stdin,
            events,
        }
    }

    pub fn next_event(&self, timeout: Duration) -> Value {
        self.events
            .recv_timeout(timeout)
            .unwrap_or_else(|_| panic!("{} sent no event within {timeout:?}", self.name))
    }

    pub fn ask(&mut self, command: &str) -> Value {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        self.next_event(Duration::from_secs(30))
    }

    /// Asks `command` until `done` holds for the answer (at most 40 s), and returns that answer;
    /// `what` names the wait in the failure.
    pub fn ask_until(&mut self, command: &str, done: impl Fn(&Value) -> bool, what: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let answer = self.ask(command);
            if done(&answer) {
                return answer;
            }
            assert!(Instant::now() < deadline, "{what}: last answer {answer}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Asks `discover APP` until the client's own cache shows `want` (bounded).
    pub fn discover_until(&mut self, app: &str, want: &[&str], timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let reply = self.ask(&format!("discover {app}"));
            let statuses: Vec<String> = reply["statuses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect();
            if statuses == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} never saw {app} as {want:?} (last: {statuses:?})",
                self.name
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
