#!/usr/bin/env bash
# The p99 target of issue 11 (docs/design/PERFORMANCE.md, "p99 at half load: what limits it"): detkafka produce at a
# fixed rate (100 B records, acks=all, 16 KiB batches, 8 partitions, 2 connections) against a fresh broker per
# io.model, with, from the same run:
#   - the client's latency percentiles (p50 ... p99.9, max);
#   - the broker's own fsync latency (its kafka_log_logflushstats_logflushrateandtime_seconds histogram, scraped before
#     and after the run: percentiles of the run's fsyncs, at the histogram's bucket bounds, 50 us x 2^k) and its
#     Produce request time (kafka_network_requestmetrics_totaltime_seconds{request="Produce"});
#   - a CPU profile of the broker for PROFILE_S seconds in the middle of the run (perf record -g, by thread and by DSO).
# Everything binds 127.0.0.1; what it starts is killed by pid.
#
# Usage: bench/halfload.sh [records/s (1000000)] [seconds (15)] [io models ("threads loop")]
# Env: HALF_PORT (19860), PROFILE_S (6; 0 = no profile), DETKAFKA_BIN (the Release build).
set -euo pipefail

die() { echo "halfload.sh: $*" >&2; exit 1; }

RATE=${1:-1000000}
SECS=${2:-15}
MODELS=${3:-"threads loop"}
PORT=${HALF_PORT:-19860}
PROFILE_S=${PROFILE_S:-6}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${DETKAFKA_BIN:-$ROOT/src/Host/bin/Release/net10.0}
DIR=$(mktemp -d /tmp/detkafka-half.XXXXXX)
[[ -f $BIN/detkafka.dll ]] || die "no $BIN/detkafka.dll: run 'dotnet build DetKafka.sln -c Release' first"

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$DIR"; }
trap cleanup EXIT
wait_port() {
  for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done
  die "nothing listens on 127.0.0.1:$1"
}
scrape() { # port file
  python3 - "$1" >"$2" <<'EOF'
import sys, urllib.request
print(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=10).read().decode())
EOF
}
# Percentiles of the difference of one histogram between two scrapes, at bucket upper bounds (ms).
histogram_delta() { # before after metric label-filter
  python3 - "$@" <<'EOF'
import re, sys
before, after, metric, filt = sys.argv[1:5]
def buckets(path):
    out = {}
    for line in open(path):
        if line.startswith(metric + "_bucket") and filt in line:
            le = re.search(r'le="([^"]+)"', line).group(1)
            out[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return out
b, a = buckets(before), buckets(after)
bounds = sorted(a)
counts = [a[k] - b.get(k, 0) for k in bounds]
total = counts[-1] if counts else 0
if total <= 0:
    print("no samples"); sys.exit()
def pct(p):
    for k, c in zip(bounds, counts):
        if c >= total * p / 100: return "<=%g ms" % (k * 1000) if k != float("inf") else "> last bucket"
shares = ", ".join("<=%g ms %.1f%%" % (k * 1000, 100 * c / total) for k, c in zip(bounds, counts) if k != float("inf") and 0.0001 <= k <= 0.1)
print(f"{int(total)} samples; p50 {pct(50)}, p90 {pct(90)}, p99 {pct(99)}, p99.9 {pct(99.9)}; cumulative {shares}")
EOF
}

echo "halfload.sh: $(date -u +%FT%TZ), $(nproc) cores, $RATE records/s for $SECS s"
for model in $MODELS; do
  mport=$((PORT + 1))
  DETKAFKA_IO_MODEL=$model DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 dotnet "$BIN/detkafka.dll" serve \
    --listeners 127.0.0.1:$PORT --data-dir "$DIR/data-$model" --metrics-listener 127.0.0.1:$mport >"$DIR/broker-$model.log" 2>&1 &
  bpid=$!; PIDS+=("$bpid")
  wait_port $PORT; wait_port $mport
  # Warm up (JIT, topic creation), then the measured run.
  dotnet "$BIN/detkafka.dll" perf produce --topic h --record-size 100 --acks all --batch-size 16384 --partitions 8 \
    --connections 2 --throughput "$RATE" --duration-ms 3000 --bootstrap-server 127.0.0.1:$PORT >/dev/null 2>&1 || die "warm-up failed"
  scrape $mport "$DIR/before"
  l0=$(cut -d' ' -f1 /proc/loadavg)
  dotnet "$BIN/detkafka.dll" perf produce --topic h --record-size 100 --acks all --batch-size 16384 --partitions 8 \
    --connections 2 --throughput "$RATE" --duration-ms $((SECS * 1000)) --bootstrap-server 127.0.0.1:$PORT >"$DIR/perf-$model" 2>&1 &
  cpid=$!; PIDS+=("$cpid")
  if [[ $PROFILE_S -gt 0 ]]; then
    sleep $(( (SECS - PROFILE_S) / 2 ))
    perf record -F 499 -g -p "$bpid" -o "$DIR/prof-$model.data" -- sleep "$PROFILE_S" >/dev/null 2>&1 || echo "(perf record failed)"
  fi
  wait "$cpid" || { tail -3 "$DIR/perf-$model"; die "perf produce failed ($model)"; }
  scrape $mport "$DIR/after"
  echo "== io.model=$model, load $l0 -> $(cut -d' ' -f1 /proc/loadavg)"
  tail -2 "$DIR/perf-$model"
  echo "broker fsync latency: $(histogram_delta "$DIR/before" "$DIR/after" kafka_log_logflushstats_logflushrateandtime_seconds '')"
  echo "broker Produce request time: $(histogram_delta "$DIR/before" "$DIR/after" kafka_network_requestmetrics_totaltime_seconds 'request="Produce"')"
  if [[ -f $DIR/prof-$model.data ]]; then
    echo "profile, share of broker samples by thread:"
    perf report -i "$DIR/prof-$model.data" --no-children --sort comm --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -8 || true
    echo "by DSO:"
    perf report -i "$DIR/prof-$model.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -6 || true
    echo "top symbols:"
    perf report -i "$DIR/prof-$model.data" --no-children --sort sym --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -12 || true
  fi
  kill "$bpid"; wait "$bpid" 2>/dev/null || true
  rm -rf "$DIR/data-$model"
done
