#!/usr/bin/env bash
# Replication figures on loopback, release build:
#   1. durable throughput of `node --stdin --fsync always` with no replica, and with one replica
#      and --ack-replicas 1 (alternated, RUNS times each; medians);
#   2. a replica's lag behind its primary at RATE commands/s (the primary's view, sampled every
#      10 ms through `exchange status`: p50 / p99 / max of lag_us).
# Usage: Tools/replication-bench/run.sh [COMMANDS] [RUNS] [RATE]
set -euo pipefail
COMMANDS=${1:-1000000}
RUNS=${2:-3}
RATE=${3:-100000}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
EX="$ROOT/.build/release/exchange"
[ -x "$EX" ] || swift build -c release --product exchange --package-path "$ROOT"
WORK=$(mktemp -d /tmp/replication-bench-XXXXXX)
trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$WORK"' EXIT
cd "$WORK"
"$EX" sim --data sim --commands "$COMMANDS" --seed 1 --fsync none > /dev/null
"$EX" journal export --journal sim/journal | grep -v '"cmd":"checkpoint"' | sed -E 's/^\{"seq":[0-9]+,"ts":[-0-9]+,/{/' > commands.jsonl
LINES=$(wc -l < commands.jsonl)

port() { # a free TCP port
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

run_primary() { # $1: ack replicas (0: no replica). Prints seconds.
  rm -rf p r; mkdir p r
  local rport; rport=$(port)
  local start end
  if [ "$1" = 0 ]; then
    start=$(date +%s.%N)
    "$EX" node --data p --stdin --fsync always --replication-listen 127.0.0.1:"$rport" < commands.jsonl > /dev/null 2> p.log
    end=$(date +%s.%N)
  else
    # The replica waits for the primary's port, then follows; the primary's first commands
    # wait for it (counted).
    ( while ! "$EX" replica --data r --primary 127.0.0.1:"$rport" --fsync always > /dev/null 2> r.log; do sleep 0.05; done ) &
    local replica=$!
    start=$(date +%s.%N)
    "$EX" node --data p --stdin --fsync always --replication-listen 127.0.0.1:"$rport" --ack-replicas "$1" < commands.jsonl > /dev/null 2> p.log
    end=$(date +%s.%N)
    pkill -INT -f "exchange replica --data r" || true
    wait "$replica" 2>/dev/null || true
  fi
  python3 -c "print(f'{$end - $start:.3f}')"
}

echo "commands: $LINES (from exchange sim --commands $COMMANDS --seed 1)"
alone=(); quorum=()
for _ in $(seq "$RUNS"); do
  alone+=("$(run_primary 0)")
  quorum+=("$(run_primary 1)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ma=$(median "${alone[@]}"); mq=$(median "${quorum[@]}")
echo "no replica:                  ${alone[*]} s; median $ma s, $(python3 -c "print(round($LINES/$ma))") commands/s"
echo "one replica, --ack-replicas 1: ${quorum[*]} s; median $mq s, $(python3 -c "print(round($LINES/$mq))") commands/s ($(python3 -c "print(round(100*$ma/$mq))")% of no replica)"

# Lag at RATE commands/s.
rm -rf p r; mkdir p r
rport=$(port); aport=$(port)
mkfifo feed
"$EX" node --data p --stdin --fsync always --replication-listen 127.0.0.1:"$rport" --admin-listen 127.0.0.1:"$aport" < feed > /dev/null 2> p.log &
primary=$!
exec 3> feed
sleep 0.5
"$EX" replica --data r --primary 127.0.0.1:"$rport" --fsync always > /dev/null 2> r.log 3>&- &
sleep 0.5
python3 - "$RATE" commands.jsonl <<'PY' >&3 &
import sys, time
rate = int(sys.argv[1]); lines = open(sys.argv[2]).read().splitlines(True)
chunk = max(1, rate // 1000); start = time.monotonic()
for i in range(0, len(lines), chunk):
    due = start + i / rate
    now = time.monotonic()
    if due > now: time.sleep(due - now)
    sys.stdout.write("".join(lines[i:i + chunk])); sys.stdout.flush()
PY
python3 - "$EX" "$aport" "$LINES" "$RATE" <<'PY'
import json, subprocess, sys, time
ex, port, total, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
lags = []
while True:
    out = subprocess.run([ex, "status", "--node", f"http://127.0.0.1:{port}", "--data", "p"], capture_output=True, text=True).stdout
    try:
        status = json.loads(out)
        replicas = status["replicas"]
        if replicas:
            lags.append(replicas[0]["lag_us"])
            if status["last_seq"] >= total and replicas[0]["applied_seq"] == status["last_seq"]: break
    except (ValueError, KeyError): pass
    time.sleep(0.01)
lags.sort()
q = lambda f: lags[min(len(lags) - 1, int(f * len(lags)))]
print(f"replica lag at {rate} commands/s, {len(lags)} samples of the primary's status: p50 {q(0.5)} us, p99 {q(0.99)} us, max {lags[-1]} us")
PY
exec 3>&-
wait "$primary" || true
pkill -INT -f "exchange replica --data r" || true
