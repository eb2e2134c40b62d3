#!/usr/bin/env bash
# Compares `ragkeys keys list` with `curl … | jq .` for the same listing, against a release
# `ragkeys serve` on loopback. Goal: ragkeys no slower than 1.5 × curl | jq (median).
#
#   benches/bench-cli.sh [RUNS]        (needs hyperfine, curl, jq; builds --release)
set -euo pipefail

runs="${1:-200}"
root="$(cd "$(dirname "$0")/.." && pwd)"
missing=()
for tool in hyperfine curl jq; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    echo "bench-cli: missing ${missing[*]}; on Debian: apt-get install -y ${missing[*]}" >&2
    exit 1
fi

cd "$root"
cargo build --release --quiet
bin="$root/target/release/ragkeys"

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

RAGKEYS_LOG=warn,ragkeys=info "$bin" serve --listen 127.0.0.1:0 --data-dir "$work/data" \
    2>"$work/serve.log" &
server_pid=$!
addr=""
for _ in $(seq 1 200); do
    addr="$(grep -o 'listening on [^ ]*' "$work/serve.log" | head -n1 | sed 's/^listening on //; s#^https\?://##; s#/$##')" || true
    [[ -n "$addr" ]] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
    sleep 0.05
done
[[ -n "$addr" ]] || { echo "bench-cli: the service did not start" >&2; cat "$work/serve.log" >&2; exit 1; }

# The ragkeys commands read these; curl gets the same token through the shell.
export RAGKEYS_ENDPOINT="http://$addr"
RAGKEYS_TOKEN="$(tr -d '[:space:]' <"$work/data/admin.token")"
export RAGKEYS_TOKEN
export XDG_CONFIG_HOME="$work/config"
unset RAGKEYS_PROFILE

svc="$("$bin" --json services create bench-cli | jq -r .id)"
for n in 1 2 3 4; do
    "$bin" keys issue "$svc" --name "bench key $n" >/dev/null 2>&1
done
url="$RAGKEYS_ENDPOINT/v1/services/$svc/api-keys"
export BENCH_URL="$url"

echo "ragkeys $("$bin" --version | cut -d' ' -f2), $(hyperfine --version), $(curl --version | head -n1 | cut -d' ' -f1-2), $(jq --version)"
echo "service $svc with 4 keys at $RAGKEYS_ENDPOINT; $runs runs each"
hyperfine --warmup 20 --runs "$runs" --style basic --export-json "$work/bench.json" \
    -n 'curl | jq' 'curl -s -H "Authorization: Bearer $RAGKEYS_TOKEN" "$BENCH_URL" | jq .' \
    -n 'ragkeys --json keys list' "$bin --json keys list $svc" \
    -n 'ragkeys keys list' "$bin keys list $svc 2>/dev/null"

echo
jq -r '
  (.results[] | select(.command == "curl | jq") | .median) as $base
  | .results[]
  | "\(.command): median \((.median * 1000 * 100 | round) / 100) ms, ratio \((.median / $base * 100 | round) / 100)"
' "$work/bench.json"
worst="$(jq -r '(.results[] | select(.command == "curl | jq") | .median) as $b | [.results[] | .median / $b] | max' "$work/bench.json")"
if awk -v w="$worst" 'BEGIN { exit !(w <= 1.5) }'; then
    echo "ok: within 1.5 x curl | jq"
else
    echo "over budget: $worst x curl | jq" >&2
    exit 2
fi
