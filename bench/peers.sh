#!/usr/bin/env bash
# The produce targets of issue 11 next to their peers, measured in one run on this machine (docs/design/PERFORMANCE.md,
# "Peers in one run"):
#   - detkafka produce, 100 B and 1 KiB records, acks=all (fsync before the answer), 16 KiB batches, one broker,
#     for each io.model given (default: threads loop);
#   - Redis Streams (Debian's redis-server, appendonly yes, appendfsync always), pipelined XADD of a 100 B value
#     with redis-benchmark -P;
#   - sequential write with fdatasync into the same directory: dd (1 GiB of 1 MiB writes, conv=fdatasync, and the
#     same with oflag=direct) and, if Debian's fio is installed, fio 16 KiB writes with an fdatasync after each (its
#     sync latency percentiles are what an acks=all answer waits for).
# Then it prints the ratios the targets name. Everything binds 127.0.0.1; every process it starts is killed by pid.
#
# Usage: bench/peers.sh [seconds per detkafka run (15)] [io models ("threads loop")]
# Env: PEERS_DIR (temp dir; default mktemp under /tmp), PEERS_PORT (19800), PEERS_PARTITIONS (8), PEERS_CONNECTIONS (2),
#      PEERS_REDIS_N (XADDs, 3000000), PEERS_REDIS_CLIENTS (8), PEERS_REDIS_PIPELINE (128), DETKAFKA_BIN (the Release build).
set -euo pipefail

die() { echo "peers.sh: $*" >&2; exit 1; }

SECONDS_PER_RUN=${1:-15}
MODELS=${2:-"threads loop"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${DETKAFKA_BIN:-$ROOT/src/Host/bin/Release/net10.0}
PORT=${PEERS_PORT:-19800}
PARTITIONS=${PEERS_PARTITIONS:-8}
CONNECTIONS=${PEERS_CONNECTIONS:-2}
REDIS_N=${PEERS_REDIS_N:-3000000}
REDIS_CLIENTS=${PEERS_REDIS_CLIENTS:-8}
REDIS_PIPELINE=${PEERS_REDIS_PIPELINE:-128}
DIR=${PEERS_DIR:-$(mktemp -d /tmp/detkafka-peers.XXXXXX)}
mkdir -p "$DIR"

[[ -f $BIN/detkafka.dll ]] || die "no $BIN/detkafka.dll: run 'dotnet build DetKafka.sln -c Release' first"

# Debian's redis-server (and fio when Debian has it). Fail loudly if redis cannot be installed: the peer is the point.
ensure_packages() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 && command -v redis-benchmark >/dev/null 2>&1 || missing+=(redis-server)
  command -v fio >/dev/null 2>&1 || missing+=(fio)
  [[ ${#missing[@]} -eq 0 ]] && return
  local as_root=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "${missing[*]} missing and we are neither root nor have sudo"
    as_root=(sudo -n)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -q || die "apt-get update failed"
  "${as_root[@]}" apt-get install -y -q "${missing[@]}" || die "apt-get install ${missing[*]} failed"
  command -v redis-server >/dev/null 2>&1 && command -v redis-benchmark >/dev/null 2>&1 ||
    die "redis-server / redis-benchmark still missing after apt-get install"
}
ensure_packages

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

load() { cut -d' ' -f1-3 /proc/loadavg; }
wait_port() { # port: wait until something listens on 127.0.0.1:port (at most 20 s)
  for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done
  die "nothing listens on 127.0.0.1:$1"
}

echo "peers.sh: $(date -u +%FT%TZ), $(nproc) cores, dir $DIR, load $(load)"
declare -A RESULT

# ---- detkafka ----------------------------------------------------------------------------------------------
run_detkafka() { # model size label
  local model=$1 size=$2 label=$3 data=$DIR/dk-$1-$2 out=$DIR/dk-$1-$2.out
  rm -rf "$data"
  local l0; l0=$(load)
  DETKAFKA_IO_MODEL=$model dotnet "$BIN/detkafka.dll" serve --listeners 127.0.0.1:$PORT --data-dir "$data" \
    --metrics-listener off >"$DIR/dk-$model-$size.log" 2>&1 &
  local bpid=$!; PIDS+=("$bpid")
  wait_port $PORT
  dotnet "$BIN/detkafka.dll" perf produce --topic p --record-size "$size" --acks all --batch-size 16384 \
    --partitions "$PARTITIONS" --connections "$CONNECTIONS" --duration-ms $((SECONDS_PER_RUN * 1000)) \
    --bootstrap-server 127.0.0.1:$PORT >"$out" 2>&1 || { tail -5 "$out"; die "detkafka perf failed ($model, $size B)"; }
  local logbytes; logbytes=$(du -sb "$data" | cut -f1)
  if [[ $size == 100 ]]; then # the consume row: read back what was just written (from the page cache)
    local acked; acked=$(tail -1 "$out" | grep -Eo '^[0-9]+')
    dotnet "$BIN/detkafka.dll" perf consume --topic p --num-records "$acked" --connections "$CONNECTIONS" \
      --bootstrap-server 127.0.0.1:$PORT >"$out.consume" 2>&1 || { tail -5 "$out.consume"; die "detkafka perf consume failed ($model)"; }
    echo "detkafka $model consume: $(tail -1 "$out.consume") [load $(load)]"
  fi
  kill "$bpid"; wait "$bpid" 2>/dev/null || true
  local summary; summary=$(tail -1 "$out")
  local rps mbs p50 p99 p999
  rps=$(sed -E 's/.* records sent, ([0-9.]+) records\/sec.*/\1/' <<<"$summary")
  mbs=$(sed -E 's/.*records\/sec \(([0-9.]+) MB\/sec\).*/\1/' <<<"$summary")
  p50=$(sed -E 's/.* ([0-9.]+) ms 50th.*/\1/' <<<"$summary")
  p99=$(sed -E 's/.* ([0-9.]+) ms 99th.*/\1/' <<<"$summary")
  p999=$(sed -E 's/.* ([0-9.]+) ms 99.9th.*/\1/' <<<"$summary")
  RESULT[$label.rps]=$rps; RESULT[$label.mibs]=$mbs; RESULT[$label.logbytes]=$logbytes
  echo "detkafka $model ${size} B: $summary  [log bytes $logbytes; load $l0 -> $(load)]"
  rm -rf "$data"
}
for m in $MODELS; do
  run_detkafka "$m" 100 "$m.100"
  run_detkafka "$m" 1024 "$m.1024"
done

# ---- Redis Streams -----------------------------------------------------------------------------------------
RDIR=$DIR/redis; rm -rf "$RDIR"; mkdir -p "$RDIR"
RPORT=$((PORT + 1))
redis-server --port $RPORT --bind 127.0.0.1 --protected-mode yes --dir "$RDIR" --appendonly yes --appendfsync always \
  --save '' --daemonize no --logfile "$RDIR/redis.log" &
RPID=$!; PIDS+=("$RPID")
wait_port $RPORT
VALUE=$(printf 'V%.0s' $(seq 100))   # a 100-byte value, as detkafka's 100 B records
l0=$(load)
redis-benchmark -h 127.0.0.1 -p $RPORT -c "$REDIS_CLIENTS" -P "$REDIS_PIPELINE" -n "$REDIS_N" -q \
  XADD s '*' v "$VALUE" >"$DIR/redis.out" 2>&1 || { cat "$DIR/redis.out"; die "redis-benchmark failed"; }
REDIS_RPS=$(tr '\r' '\n' <"$DIR/redis.out" | grep -Eo '[0-9.]+ requests per second' | tail -1 | cut -d' ' -f1)
[[ -n $REDIS_RPS ]] || { cat "$DIR/redis.out"; die "no figure from redis-benchmark"; }
REDIS_LEN=$(redis-cli -h 127.0.0.1 -p $RPORT XLEN s)
AOF_BYTES=$(du -sb "$RDIR" | cut -f1)
echo "redis streams: $REDIS_RPS XADD/s (-c $REDIS_CLIENTS -P $REDIS_PIPELINE -n $REDIS_N, appendfsync always, XLEN $REDIS_LEN, AOF dir $AOF_BYTES bytes) [load $l0 -> $(load)]"
[[ $REDIS_LEN -ge $REDIS_N ]] || die "the stream holds $REDIS_LEN entries, fewer than $REDIS_N"  # -P rounds up to whole pipelines
kill "$RPID"; wait "$RPID" 2>/dev/null || true
rm -rf "$RDIR"

# ---- sequential write with fdatasync ---------------------------------------------------------------------------
dd_rate() { # dd args... -> bytes/s
  local out; out=$(dd if=/dev/zero of="$DIR/dd.tmp" bs=1M count=1024 "$@" 2>&1 | tail -1)
  rm -f "$DIR/dd.tmp"
  echo "dd $* : $out [load $(load)]" >&2
  # "1073741824 bytes (1.1 GB, 1.0 GiB) copied, 0.61 s, 1.8 GB/s"
  awk -F', ' '{ split($3, t, " "); printf "%.0f\n", 1073741824 / t[1] }' <<<"$out"
}
DD_FDATASYNC=$(dd_rate conv=fdatasync)
DD_DIRECT=$(dd_rate oflag=direct conv=fdatasync)
FIO_LINE="(fio not installed)"
if command -v fio >/dev/null 2>&1; then
  fio --name=seq16k --filename="$DIR/fio.tmp" --rw=write --bs=16k --size=256m --ioengine=sync --fdatasync=1 \
    --output-format=json >"$DIR/fio.json" 2>/dev/null || die "fio failed"
  rm -f "$DIR/fio.tmp"
  FIO_LINE=$(python3 - "$DIR/fio.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
w, s = j["write"], j["sync"]
pct = s["lat_ns"].get("percentile", {})
def ms(k): return pct.get(k, 0) / 1e6
print(f"fio 16 KiB writes + fdatasync each: {w['bw_bytes'] / 1e6:.1f} MB/s, {w['iops']:.0f} writes/s; "
      f"fdatasync latency mean {s['lat_ns']['mean'] / 1e6:.3f} ms, p50 {ms('50.000000'):.3f}, p99 {ms('99.000000'):.3f}, "
      f"p99.9 {ms('99.900000'):.3f}, max {s['lat_ns']['max'] / 1e6:.3f} ms")
EOF
)
fi
echo "$FIO_LINE [load $(load)]"

# ---- ratios ---------------------------------------------------------------------------------------------------
echo
echo "== ratios (same run) =="
for m in $MODELS; do
  awk -v m="$m" -v rps="${RESULT[$m.100.rps]}" -v redis="$REDIS_RPS" \
      -v mib="${RESULT[$m.1024.mibs]}" -v lb="${RESULT[$m.1024.logbytes]}" -v secs="$SECONDS_PER_RUN" \
      -v dd="$DD_FDATASYNC" -v ddd="$DD_DIRECT" 'BEGIN {
    rps = rps + 0
    printf "%s: 100 B %.0f records/s = %.2fx Redis Streams (%.0f XADD/s); target >= 2,000,000 and >= 6x\n", m, rps, rps / redis, redis
    rec = mib * 1048576
    printf "%s: 1 KiB %.1f MB/s of records (%.1f MB/s of log written, %.0f bytes in %d s) = %.1f%% of dd conv=fdatasync (%.1f MB/s), %.1f%% of dd oflag=direct (%.1f MB/s); target >= 60%%\n",
      m, rec / 1e6, lb / secs / 1e6, lb, secs, 100 * rec / dd, dd / 1e6, 100 * rec / ddd, ddd / 1e6
  }'
done
rm -rf "$DIR"
