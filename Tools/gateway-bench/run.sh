#!/usr/bin/env bash
# Signed orders over loopback HTTP keep-alive: a release node with --listen (fsync always), a
# market and two funded accounts made through the admin API, N pre-signed orders, and wrk
# (Debian's package) sending them on C connections for D seconds (rate limits lifted). Prints the server's CPU
# seconds and wrk's report (rate, latency percentiles).
# Usage: Tools/gateway-bench/run.sh [C] [D] [N]   (defaults 64, 8, 300000)
set -euo pipefail
cd "$(dirname "$0")/../.."
C=${1:-64}; D=${2:-8}; N=${3:-300000}
WORK=$(mktemp -d /tmp/gateway-bench-XXXXXX)
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
command -v wrk > /dev/null || { echo "wrk is needed (apt-get install wrk)"; exit 1; }
.build/release/exchange node --data "$WORK/node" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --fsync always \
    --order-limits 100000000/10 --request-weight 100000000/60 > "$WORK/out" 2>&1 &
PID=$!
until grep -q "admin API on" "$WORK/out"; do sleep 0.1; done
API=$(grep "Binance API on" "$WORK/out" | sed 's/.* on //')
ADMIN=$(grep "admin API on" "$WORK/out" | sed 's/.* on //; s/ .*//')
cat > "$WORK/setup.jsonl" <<'X'
{"cmd":"add_asset","asset":"BTC","scale":8}
{"cmd":"add_asset","asset":"USDT","scale":8}
{"cmd":"add_symbol","symbol":"BTCUSDT","base":"BTC","quote":"USDT","tick_size":"0.01","step_size":"0.00001","min_notional":"5"}
{"cmd":"open_account","account":1}
{"cmd":"open_account","account":2}
{"cmd":"deposit","account":1,"asset":"USDT","amount":"10000000000"}
{"cmd":"deposit","account":2,"asset":"BTC","amount":"10000000"}
X
ADM=(.build/release/exchange admin)
"${ADM[@]}" submit --node "$ADMIN" --data "$WORK/node" "$WORK/setup.jsonl" > /dev/null
A=$("${ADM[@]}" create-key --node "$ADMIN" --data "$WORK/node" --account 1 --json)
B=$("${ADM[@]}" create-key --node "$ADMIN" --data "$WORK/node" --account 2 --json)
echo "{\"a\":$A,\"b\":$B}" > "$WORK/keys.json"
.venv-clients/bin/python Tools/gateway-bench/signed_requests.py "$WORK/keys.json" "$N" "$WORK/requests.txt"
T0=$(awk '{print $14+$15}' /proc/$PID/stat)
wrk -t2 -c"$C" -d"${D}s" --latency -s Tools/gateway-bench/orders.lua "$API" -- "$WORK/requests.txt" 2
T1=$(awk '{print $14+$15}' /proc/$PID/stat)
echo "server CPU: $(( (T1 - T0) / 100 )) s in ${D} s"
