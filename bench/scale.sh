#!/usr/bin/env bash
# Scale curves of issue 11 (docs/design/PERFORMANCE.md, "Scale curves"): detkafka produce (100 B records, acks=all,
# 16 KiB batches) against the number of partitions and the number of client connections, a fresh broker per point,
# each point run twice: unthrottled (the maximum) and at a fixed rate (the latency at a load every point can carry).
# One line per run: records/s, p50/p99/p99.9, the broker's CPU per record (utime+stime from /proc/<pid>/stat), its
# resident set, open files and threads, and the load average. Everything binds 127.0.0.1; the broker it starts is
# killed by pid.
#
# Usage: bench/scale.sh [partitions list] [connections list]
#   defaults "1 10 100 1000 10000" (2 connections) and "1 10 100 1000" (100 partitions)
# Env: SCALE_SECONDS (10), SCALE_RATE (fixed rate, records/s, 100000), SCALE_PORT (19820), SCALE_IO (threads),
#      SCALE_CONN_PARTITIONS (100), DETKAFKA_BIN (the Release build).
set -euo pipefail

die() { echo "scale.sh: $*" >&2; exit 1; }

PARTITION_POINTS=${1-"1 10 100 1000 10000"}
CONNECTION_POINTS=${2-"1 10 100 1000"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${DETKAFKA_BIN:-$ROOT/src/Host/bin/Release/net10.0}
SECS=${SCALE_SECONDS:-10}
RATE=${SCALE_RATE:-100000}
PORT=${SCALE_PORT:-19820}
IO=${SCALE_IO:-threads}
CONN_PARTITIONS=${SCALE_CONN_PARTITIONS:-100}
DIR=$(mktemp -d /tmp/detkafka-scale.XXXXXX)
[[ -f $BIN/detkafka.dll ]] || die "no $BIN/detkafka.dll: run 'dotnet build DetKafka.sln -c Release' first"

BPID=
cleanup() { [[ -n $BPID ]] && kill "$BPID" 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT

load() { cut -d' ' -f1 /proc/loadavg; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
wait_port() {
  for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done
  die "nothing listens on 127.0.0.1:$1"
}
field() { sed -E "s#.*$1.*#\\1#" <<<"$2"; }

echo "scale.sh: $(date -u +%FT%TZ), $(nproc) cores, io.model=$IO, $SECS s per run, fixed rate $RATE records/s"
printf '%-11s %6s %-9s %12s %8s %8s %8s %9s %10s %8s %6s %7s %5s\n' dimension value run records/s p50_ms p99_ms p999_ms cpu_us/rec rss_MB files threads setup_s load

point() { # partitions connections
  local parts=$1 conns=$2 dim=$3 val=$4
  # Each partition holds three open files (.log, .index, .timeindex); past the descriptor limit the broker cannot
  # create the topic, so say so instead of measuring a failure.
  local need=$((3 * parts + 200)) limit; limit=$(ulimit -n)
  if [[ $limit != unlimited && $need -gt $limit ]]; then
    printf '%-11s %6s skipped: needs about %d open files, RLIMIT_NOFILE is %s (ulimit -n)\n' "$dim" "$val" "$need" "$limit"
    return
  fi
  local data=$DIR/data; rm -rf "$data"
  DETKAFKA_IO_MODEL=$IO dotnet "$BIN/detkafka.dll" serve --listeners 127.0.0.1:$PORT --data-dir "$data" \
    --metrics-listener off >"$DIR/broker.log" 2>&1 &
  BPID=$!
  wait_port $PORT
  local topic=t
  for run in max fixed; do
    local args=(produce --topic $topic --record-size 100 --acks all --batch-size 16384 --partitions "$parts"
      --connections "$conns" --duration-ms $((SECS * 1000)) --timeout-ms 300000 --bootstrap-server 127.0.0.1:$PORT)
    [[ $run == fixed ]] && args+=(--throughput "$RATE")
    local t0 c0 l0 out
    t0=$(date +%s.%N); c0=$(cpu_ticks $BPID); l0=$(load)
    out=$(dotnet "$BIN/detkafka.dll" perf "${args[@]}" 2>&1) || { tail -5 <<<"$out"; die "perf failed at $dim=$val ($run)"; }
    local c1 summary hist; c1=$(cpu_ticks $BPID)
    summary=$(tail -1 <<<"$out")
    local acked rps p50 p99 p999
    acked=$(grep -Eo '^[0-9]+' <<<"$summary")
    rps=$(field ' records sent, ([0-9.]+) records/sec.*' "$summary")
    p50=$(field ' ([0-9.]+) ms 50th.*' "$summary")
    p99=$(field ' ([0-9.]+) ms 99th.*' "$summary")
    p999=$(field ' ([0-9.]+) ms 99.9th.*' "$summary")
    local hz; hz=$(getconf CLK_TCK)
    local cpu_us; cpu_us=$(awk -v d=$((c1 - c0)) -v n="$acked" -v hz="$hz" 'BEGIN { printf "%.2f", (n > 0 ? d / hz * 1e6 / n : 0) }')
    local rss files threads
    rss=$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' /proc/$BPID/status)
    threads=$(awk '/^Threads/ { print $2 }' /proc/$BPID/status)
    files=$(ls /proc/$BPID/fd | wc -l)
    # The first run includes creating the topic; its setup time is the wall time beyond the run's duration.
    local setup; setup=$(awk -v a="$t0" -v b="$(date +%s.%N)" -v s="$SECS" 'BEGIN { printf "%.1f", b - a - s }')
    printf '%-11s %6s %-9s %12s %8s %8s %8s %9s %10s %8s %6s %7s %5s\n' "$dim" "$val" "$run" "${rps%.*}" "$p50" "$p99" "$p999" \
      "$cpu_us" "$rss" "$files" "$threads" "$setup" "$l0-$(load)"
    topic=t  # the fixed-rate run reuses the topic
  done
  kill "$BPID"; wait "$BPID" 2>/dev/null || true; BPID=
}

for p in $PARTITION_POINTS; do point "$p" 2 partitions "$p"; done
for c in $CONNECTION_POINTS; do point "$CONN_PARTITIONS" "$c" connections "$c"; done
