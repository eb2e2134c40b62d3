#!/bin/sh
# Measures the release build of `ragkeys serve` on 127.0.0.1: verify, healthz, the key list and
# issue against the bare axum floor (benches/server/main.rs), then verify through the nginx
# gateway recipe against a static-map gateway (benches/gateway/main.rs); tunables in each.
set -eu
cd "$(dirname "$0")/.."
exec cargo bench --bench server --bench gateway -- "$@"
