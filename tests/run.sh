#!/usr/bin/env bash
# The whole test suite, on a fresh machine: what the README's test command and CI (.ci/run) run.
# Everything it needs is installed from the project's own files: crates by Cargo (protoc is
# vendored), the real Eureka clients into tests/clients (a Python venv and node_modules).
set -euo pipefail
cd "$(dirname "$0")/.."

# jemalloc (registryd's allocator) is built from source with `make`.
if ! command -v make >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq make >/dev/null
fi

clients=tests/clients
if [ ! -x "$clients/.venv/bin/python" ]; then
  python3 -m venv "$clients/.venv"
fi
"$clients/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$clients/requirements.txt"
(cd "$clients" && npm ci --silent --no-audit --no-fund)

cargo test --workspace --locked
