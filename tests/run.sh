#!/usr/bin/env bash
# The whole test suite, on a fresh machine: what the README's test command and CI (.ci/run) run.
# Everything it needs comes from Cargo (protoc is vendored by a build dependency).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked
