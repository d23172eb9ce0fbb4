#!/usr/bin/env bash
# Topic creation at scale (PERFORMANCE.md, "Creating thousands of partitions"): a fresh broker per point, one
# `detkafka topic create` of N partitions, its wall time and partitions per second, the broker's fsyncs during it
# (strace -f -c, when CREATE_STRACE=1; strace slows every syscall, so the rate is measured without it), and how
# long a `cluster info` (ApiVersions + Metadata on another connection) takes while the creation runs: the driver
# thread blocked in fsyncs answers nothing else. Everything binds 127.0.0.1; the broker is killed by pid.
#
# Usage: bench/create.sh ["1000 5000"]   Env: CREATE_PORT (19840), CREATE_STRACE (0), DETKAFKA_BIN (Release build)
set -euo pipefail
die() { echo "create.sh: $*" >&2; exit 1; }
POINTS=${1-"1000 5000"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${DETKAFKA_BIN:-$ROOT/src/Host/bin/Release/net10.0}
PORT=${CREATE_PORT:-19840}
DIR=$(mktemp -d /tmp/detkafka-create.XXXXXX)
[[ -f $BIN/detkafka.dll ]] || die "no $BIN/detkafka.dll: run 'dotnet build DetKafka.sln -c Release' first"
BPID= SPID=
cleanup() { [[ -n $SPID ]] && kill "$SPID" 2>/dev/null; [[ -n $BPID ]] && kill "$BPID" 2>/dev/null; rm -rf "$DIR"; true; }
trap cleanup EXIT
wait_port() {
  for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done
  die "nothing listens on 127.0.0.1:$1"
}
ms() { date +%s%3N; }
echo "create.sh: $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
for n in $POINTS; do
  rm -rf "$DIR/data"
  dotnet "$BIN/detkafka.dll" serve --listeners 127.0.0.1:$PORT --data-dir "$DIR/data" --metrics-listener off \
    >"$DIR/broker.log" 2>&1 &
  BPID=$!
  wait_port $PORT
  if [[ ${CREATE_STRACE:-0} == 1 ]]; then
    strace -f -c -e trace=fsync,fdatasync,mkdir,openat -p $BPID -o "$DIR/strace.txt" 2>/dev/null & SPID=$!
    sleep 1
  fi
  t0=$(ms)
  dotnet "$BIN/detkafka.dll" topic create t -p "$n" -b 127.0.0.1:$PORT --timeout-ms 600000 >"$DIR/create.out" 2>&1 &
  CPID=$!
  # Probe: how long another client's request waits while the creation runs (the first probe after 1 s).
  sleep 1; worst=0; probes=0
  while kill -0 $CPID 2>/dev/null; do
    p0=$(ms); dotnet "$BIN/detkafka.dll" cluster info -b 127.0.0.1:$PORT --timeout-ms 600000 >/dev/null 2>&1 || true
    d=$(( $(ms) - p0 )); probes=$((probes + 1)); (( d > worst )) && worst=$d
  done
  wait $CPID || { cat "$DIR/create.out"; die "create of $n partitions failed"; }
  t1=$(ms)
  secs=$(awk -v a=$t0 -v b=$t1 'BEGIN { printf "%.2f", (b - a) / 1000 }')
  rate=$(awk -v n=$n -v a=$t0 -v b=$t1 'BEGIN { printf "%.0f", n * 1000 / (b - a) }')
  echo "partitions $n: created in $secs s, $rate partitions/s; cluster info during it: $probes probes, slowest ${worst} ms (a probe alone: ~1 s of dotnet start-up)"
  if [[ -n $SPID ]]; then kill -INT $SPID; wait $SPID 2>/dev/null || true; SPID=; grep -E 'fsync|fdatasync|mkdir|openat|calls' "$DIR/strace.txt" || true; fi
  kill $BPID; wait $BPID 2>/dev/null || true; BPID=
done
