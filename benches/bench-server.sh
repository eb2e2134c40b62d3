#!/bin/sh
# Measures the release build of `ragkeys serve` on 127.0.0.1 (see benches/server/main.rs for tunables).
set -eu
cd "$(dirname "$0")/.."
exec cargo bench --bench server -- "$@"
