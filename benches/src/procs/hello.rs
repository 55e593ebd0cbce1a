//! The hello-world hyper server (the `hello` binary), baseline H.

use std::io::BufRead;
use std::io::BufReader;
use std::process::Command;
use std::process::Stdio;

use super::sibling_binary;
use super::Proc;
use crate::conn::Target;
use crate::error::BenchError;

/// Starts `hello` on an ephemeral loopback port; returns it and its target.
pub fn start() -> Result<(Proc, Target), BenchError> {
    let mut command = Command::new(sibling_binary("hello"));
    command.arg("127.0.0.1:0").stdout(Stdio::piped()).stderr(Stdio::null());
    let mut proc = Proc::spawn("hello", &mut command)?;
    let stdout = proc.child.stdout.take().expect("piped above");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let target = Target::parse(&format!("http://{}", line.trim()))?;
    Ok((proc, target))
}
