#!/usr/bin/env bash
# Builds r-nacos (the `rnacos` crate, a Rust Nacos server) from crates.io once and prints the path
# of its binary. The Nacos interop tests and the quick suite's r-nacos stage run it as the peer.
#
# Cached under $RNACOS_CACHE, else the Cargo target directory's `peers/` (a persistent
# CARGO_TARGET_DIR keeps it between CI runs); a cached binary of the pinned version is reused.
# The build log goes to stderr; stdout carries only the path.
set -euo pipefail
VERSION=0.8.8
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${RNACOS_CACHE:-${CARGO_TARGET_DIR:-$repo/target}/peers}/rnacos-$VERSION"
bin="$cache/bin/rnacos"
if [ ! -x "$bin" ]; then
    mkdir -p "$cache"
    echo "building rnacos $VERSION from crates.io into $cache (once)" >&2
    # Its own target directory, removed afterwards: the registry's target stays as it was.
    CARGO_TARGET_DIR="$cache/build" cargo install rnacos --version "$VERSION" --locked --root "$cache" >&2
    rm -rf "$cache/build"
fi
echo "$bin"
