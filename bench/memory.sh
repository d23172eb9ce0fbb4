#!/usr/bin/env bash
# Broker memory against log size and time (issue 11; docs/design/PERFORMANCE.md, "Memory over a 10-minute run").
# Two fresh brokers side by side, each under a fixed-rate detkafka produce (acks=all, 16 KiB batches): "default"
# (index.interval.bytes 4096, an offset- and a time-index entry per 4 KiB of log) and "sparse" (index.interval.bytes
# 1 GiB: no index entries, everything else the same). Every SAMPLE seconds one line per broker: VmRSS, RssAnon,
# RssFile (/proc/<pid>/status) and the bytes of its data directory. Everything binds 127.0.0.1; the brokers and
# clients it starts are killed by pid; the data is deleted at the end.
#
# Usage: bench/memory.sh [seconds (600)] [records/s per broker (15000)] [record size (1024)]
# Env: MEMORY_SAMPLE (10), MEMORY_PORT (19840), DETKAFKA_BIN (the Release build).
set -euo pipefail

die() { echo "memory.sh: $*" >&2; exit 1; }

SECS=${1:-600}
RATE=${2:-15000}
SIZE=${3:-1024}
SAMPLE=${MEMORY_SAMPLE:-10}
PORT=${MEMORY_PORT:-19840}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${DETKAFKA_BIN:-$ROOT/src/Host/bin/Release/net10.0}
DIR=$(mktemp -d /tmp/detkafka-memory.XXXXXX)
[[ -f $BIN/detkafka.dll ]] || die "no $BIN/detkafka.dll: run 'dotnet build DetKafka.sln -c Release' first"

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$DIR"; }
trap cleanup EXIT
wait_port() {
  for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done
  die "nothing listens on 127.0.0.1:$1"
}

declare -A BROKER CLIENT
start() { # name port env...
  local name=$1 port=$2; shift 2
  env "$@" dotnet "$BIN/detkafka.dll" serve --listeners 127.0.0.1:$port --data-dir "$DIR/$name" --metrics-listener off \
    >"$DIR/$name.log" 2>&1 &
  BROKER[$name]=$!; PIDS+=("$!")
  wait_port "$port"
  dotnet "$BIN/detkafka.dll" perf produce --topic m --record-size "$SIZE" --acks all --batch-size 16384 --partitions 8 \
    --connections 2 --throughput "$RATE" --duration-ms $((SECS * 1000)) --bootstrap-server 127.0.0.1:$port \
    >"$DIR/$name.perf" 2>&1 &
  CLIENT[$name]=$!; PIDS+=("$!")
}
start default $PORT
start sparse $((PORT + 1)) DETKAFKA_LOG_INDEX_INTERVAL_BYTES=1073741824

echo "memory.sh: $(date -u +%FT%TZ), $(nproc) cores, $SECS s, $RATE records/s of $SIZE B per broker"
printf '%6s %-8s %9s %9s %9s %10s %6s\n' t_s broker rss_MB anon_MB file_MB log_MB load
t0=$(date +%s)
while :; do
  now=$(( $(date +%s) - t0 ))
  for name in default sparse; do
    pid=${BROKER[$name]}
    [[ -r /proc/$pid/status ]] || die "broker $name (pid $pid) is gone"
    awk -v t="$now" -v n="$name" -v lg="$(du -sb "$DIR/$name" | cut -f1)" -v load="$(cut -d' ' -f1 /proc/loadavg)" '
      /^VmRSS/ { rss = $2 } /^RssAnon/ { anon = $2 } /^RssFile/ { file = $2 }
      END { printf "%6d %-8s %9.1f %9.1f %9.1f %10.1f %6s\n", t, n, rss / 1024, anon / 1024, file / 1024, lg / 1048576, load }' \
      "/proc/$pid/status"
  done
  running=0
  for name in default sparse; do kill -0 "${CLIENT[$name]}" 2>/dev/null && running=1; done
  [[ $running -eq 1 ]] || break
  sleep "$SAMPLE"
done
for name in default sparse; do echo "$name: $(tail -1 "$DIR/$name.perf")"; done
