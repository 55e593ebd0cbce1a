#!/usr/bin/env bash
# The whole test suite, on a fresh machine: what the README's test command and CI (.ci/run) run.
# Everything it needs is installed from the project's own files: crates by Cargo (protoc is
# vendored), the real Eureka clients and the browser driver into tests/clients (a Python venv
# and node_modules), Debian packages with apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: `make` builds jemalloc (registryd's allocator) from source; the dashboard's
# browser test drives Debian's `chromium` (with a font to render the page in); the chaos suite
# needs iproute2 (and root, for namespaces and a tmpfs); Prometheus discovers targets through Eureka.
missing=()
command -v make >/dev/null 2>&1 || missing+=(make)
[ -x /usr/bin/chromium ] || missing+=(chromium fonts-dejavu-core)
# The chaos suite puts each node in its own network namespace (`ip netns`, veth links).
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
# The chaos suite drops packets with firewall rules inside the namespaces.
command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || missing+=(iptables)
# The chaos suite freezes an ext4 image (mkfs.ext4; fsfreeze is util-linux's) under one node.
command -v mkfs.ext4 >/dev/null 2>&1 || [ -x /usr/sbin/mkfs.ext4 ] || missing+=(e2fsprogs)
# Prometheus is a real Eureka client (its eureka_sd_configs), written in Go.
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

clients=tests/clients
if [ ! -x "$clients/.venv/bin/python" ]; then
  python3 -m venv "$clients/.venv"
fi
"$clients/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$clients/requirements.txt"
(cd "$clients" && npm ci --silent --no-audit --no-fund)

cargo test --workspace --locked
