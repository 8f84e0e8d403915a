#!/usr/bin/env bash
# Repair throughput: a pool and 8 peers on loopback, one 2 GiB file stored with ec:4+2,
# the fullest peer killed; reports how fast the network rebuilds what it held (from the
# moment the pool declares it lost until nothing is below full redundancy), and checks the
# file still reads back intact. Usage: scripts/repair-bench.sh [SIZE_MiB]   (needs a
# `cargo build --release`, python3 and curl)
set -euo pipefail
SIZE_MIB=${1:-2048}
C=${CAIRN:-$(cd "$(dirname "$0")/.." && pwd)/target/release/cairn}
DIR=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$DIR"' EXIT
cd "$DIR"
json() { python3 -c "import json,sys; n=json.load(sys.stdin); print($1)"; }

$C pool --data pool --listen 127.0.0.1:0 --heartbeat-interval 1s --offline-after 3s \
  --repair-after 5s > pool.out 2> pool.err &
until grep -q "listening on" pool.out 2>/dev/null; do sleep 0.1; done
POOL=$(sed -n 's/listening on //p' pool.out)
for i in $(seq 1 8); do
  $C peer --pool "$POOL" --data "peer$i" --listen 127.0.0.1:0 --capacity 20GiB \
    > "peer$i.out" 2> "peer$i.err" &
  echo $! > "peer$i.pid"
done
until [ "$($C network --pool "$POOL" --json | json 'n["totals"]["online"]')" = 8 ]; do sleep 0.2; done
export CAIRN_HOME=$DIR/home
$C init --pool "$POOL" --no-passphrase > /dev/null
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > big.bin
$C put big.bin --redundancy ec:4+2 > /dev/null
sleep 3 # heartbeats report each peer's usage
read -r ADDR USED <<< "$($C network --pool "$POOL" --json \
  | json 'max(n["peers"], key=lambda p: p["used_bytes"])["address"] + " " + str(max(p["used_bytes"] for p in n["peers"]))')"
for i in $(seq 1 8); do
  if grep -q "${ADDR#http://}" "peer$i.out"; then kill -9 "$(cat "peer$i.pid")"; fi
done
until [ "$($C network --pool "$POOL" --json | json 'sum(p["state"] == "lost" for p in n["peers"])')" = 1 ]; do
  sleep 0.05
done
T0=$(date +%s.%N)
until [ "$($C network --pool "$POOL" --json | json 'str(n["repair_queue"]) + " " + str(n["repairs_in_flight"])')" = "0 0" ]; do
  sleep 0.1
done
T1=$(date +%s.%N)
BYTES=$(curl -s "$POOL/metrics" | sed -n 's/^cairn_bytes_rebuilt_total //p')
python3 -c "t = $T1 - $T0; b = $BYTES
print(f'lost peer held {$USED / 2**20:.0f} MiB; rebuilt {b / 2**20:.0f} MiB in {t:.1f} s: {b / t / 1e6:.1f} MB/s')"
$C get /big.bin back.bin > /dev/null
cmp big.bin back.bin && echo "file intact"
