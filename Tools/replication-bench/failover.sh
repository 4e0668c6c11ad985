#!/usr/bin/env bash
# Failover time on loopback: three members on a throwaway etcd (Debian: etcd-server), fsync
# always, --ack-replicas 1; the leader is killed (SIGKILL) RUNS times, and each time the script
# measures from the kill to the first command a new leader acknowledges (a client retrying every
# 10 ms on every member). The default lease is 2 s. Prints each time and the median.
# Usage: Tools/replication-bench/failover.sh [RUNS]
set -euo pipefail
RUNS=${1:-5}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
EX="$ROOT/.build/release/exchange"
[ -x "$EX" ] || swift build -c release --product exchange --package-path "$ROOT"
WORK=$(mktemp -d /tmp/failover-bench-XXXXXX)
trap 'pkill -P $$ 2>/dev/null || true; kill $(cat "$WORK"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$WORK"' EXIT
cd "$WORK"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
EP=$(port); PP=$(port)
etcd --data-dir etcd --listen-client-urls http://127.0.0.1:$EP --advertise-client-urls http://127.0.0.1:$EP \
     --listen-peer-urls http://127.0.0.1:$PP --initial-advertise-peer-urls http://127.0.0.1:$PP \
     --initial-cluster default=http://127.0.0.1:$PP > etcd.log 2>&1 &
echo $! > etcd.pid
sleep 2
head -c 32 /dev/urandom > key
declare -a ADMIN
start() { # $1: member index
  mkdir -p n$1; cp key n$1/node.key; chmod 600 n$1/node.key
  # In a subshell: the member is no job of this shell, which would report its SIGKILL.
  ( "$EX" node --data n$1 --name n$1 --etcd http://127.0.0.1:$EP --cluster bench --replication-listen 127.0.0.1:0 \
        --admin-listen 127.0.0.1:${ADMIN[$1]} --ack-replicas 1 > n$1.log 2>&1 & echo $! > n$1.pid )
}
for i in 0 1 2; do ADMIN[$i]=$(port); start $i; done
order='{"cmd":"deposit","account":0,"asset":"X","amount":"1"}'
leader() {
  for i in 0 1 2; do
    if "$EX" status --node http://127.0.0.1:${ADMIN[$i]} --data n$i 2>/dev/null | grep -q '"role":"primary"'; then echo $i; return; fi
  done
  echo -1
}
until [ "$(leader)" -ge 0 ]; do sleep 0.1; done
times=()
for _ in $(seq "$RUNS"); do
  L=$(leader)
  "$EX" admin submit --node http://127.0.0.1:${ADMIN[$L]} --data n$L - <<< '{"cmd":"add_asset","asset":"X","scale":2}' > /dev/null || true
  start_ns=$(date +%s%N)
  kill -9 "$(cat n$L.pid)"
  done_ns=""
  while [ -z "$done_ns" ]; do
    for i in 0 1 2; do
      [ "$i" = "$L" ] && continue
      if timeout 5 "$EX" admin submit --node http://127.0.0.1:${ADMIN[$i]} --data n$i - <<< "$order" 2>/dev/null | grep -q '"seq"'; then
        done_ns=$(date +%s%N); break
      fi
    done
    sleep 0.01
  done
  t=$(python3 -c "print(f'{($done_ns - $start_ns) / 1e9:.2f}')")
  times+=("$t")
  echo "failover after killing n$L: $t s"
  start "$L"
  sleep 3
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print "median " a[int((NR+1)/2)] " s over " NR " failovers"}'
