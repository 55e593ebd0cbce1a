#!/usr/bin/env bash
# Interop tests against peers built from source, kept out of tests/run.sh because the first build
# of a peer takes minutes (r-nacos 0.8.8, a release build: see the README, "Tests and
# benchmarks"). `.ci/run` runs it after tests/run.sh. The peer is cached under the Cargo target
# directory's `peers/` (tests/peers/rnacos.sh), so later runs start at once.
#
# Runs the `#[ignore]`d federation tests with a Nacos server (tests/cluster/nacos_federation.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

RNACOS_BIN="$(bash tests/peers/rnacos.sh)"
export RNACOS_BIN
cargo test --locked -p registry-http --test cluster nacos_federation -- --ignored
