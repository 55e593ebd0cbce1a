//! The documents lead to files that exist: every relative link in `README.md` and
//! `docs/architecture.md`, and every source path `docs/architecture.md` names (in full, or by
//! its tail under `crates/` such as `eureka/ops.rs`), except the files it says a new protocol
//! would add. And the list of files a new protocol touches stays at eight or fewer (issue 20).

use std::path::Path;
use std::path::PathBuf;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file under `dir`, as paths relative to the repository's root.
fn files_under(dir: &Path, into: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, into);
        } else if let Ok(relative) = path.strip_prefix(root()) {
            into.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// The targets of `[text](target)` links that point inside the repository.
fn relative_links(markdown: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut rest = markdown;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = rest[..end].split('#').next().unwrap_or_default().trim();
        let external = target.contains("://") || target.starts_with("mailto:");
        if !target.is_empty() && !external {
            links.push(target.to_string());
        }
    }
    links
}

/// Code spans that look like a path to a file of ours (`a/b.rs`, `README.md`...), with the line
/// they are on.
fn named_paths(markdown: &str) -> Vec<(String, String)> {
    let kinds = [".rs", ".md", ".toml", ".proto", ".yaml", ".json", ".sh"];
    let mut named = Vec::new();
    for line in markdown.lines() {
        for (i, span) in line.split('`').enumerate() {
            let is_code = i % 2 == 1;
            let pathlike = span
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'));
            if is_code && pathlike && kinds.iter().any(|k| span.ends_with(k)) {
                named.push((span.to_string(), line.to_string()));
            }
        }
    }
    named
}

#[test]
fn relative_links_resolve() {
    for (document, base) in [("README.md", ""), ("docs/architecture.md", "docs")] {
        for link in relative_links(&read(document)) {
            let path = root().join(base).join(&link);
            assert!(path.exists(), "{document} links to {link}, which does not exist");
        }
    }
}

#[test]
fn the_architecture_names_files_that_exist() {
    let mut files = Vec::new();
    for dir in ["crates", "tests", "docs", "proto", "deploy", "benches"] {
        files_under(&root().join(dir), &mut files);
    }
    files.retain(|f| !f.contains("node_modules") && !f.contains("/.venv/"));
    let doc = read("docs/architecture.md");
    let named = named_paths(&doc);
    assert!(named.len() > 20, "the path check finds the paths: {named:?}");
    for (path, line) in named {
        if line.contains("(new)") {
            continue;
        }
        let exists = root().join(&path).is_file() || files.iter().any(|f| f.ends_with(&format!("/{path}")));
        assert!(
            exists,
            "docs/architecture.md names {path}, which is no file here:\n{line}"
        );
    }
}

#[test]
fn a_new_protocol_touches_at_most_eight_files() {
    let doc = read("docs/architecture.md");
    let section = doc
        .split("### A protocol")
        .nth(1)
        .and_then(|s| s.split("\n### ").next())
        .expect("docs/architecture.md has a section \"### A protocol\"");
    let steps: Vec<&str> = section
        .lines()
        .filter(|l| l.split_once(". ").is_some_and(|(n, _)| n.parse::<u32>().is_ok()))
        .collect();
    assert!(!steps.is_empty(), "the section lists the files");
    assert!(
        steps.len() <= 8,
        "a new protocol touches {} files: {steps:#?}",
        steps.len()
    );
}
