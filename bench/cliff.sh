#!/usr/bin/env bash
# cliff.sh PARTS CONNS RATE(-1=max) LABEL: a broker, a warm-up creating the topic, then a 15 s run with perf trace -s
# on the broker for 5 s in its middle; prints the client's and the broker's CPU seconds.
set -euo pipefail
BIN=${DETKAFKA_BIN:-$(cd "$(dirname "$0")/.." && pwd)/src/Host/bin/Release/net10.0}
P=$1 C=$2 R=$3 L=$4 PORT=19880 D=${CLIFF_DIR:-/tmp/detkafka-cliff}/$4
rm -rf $D; mkdir -p $D
DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 dotnet $BIN/detkafka.dll serve --listeners 127.0.0.1:$PORT --data-dir $D/data --metrics-listener off > $D/broker.log 2>&1 &
B=$!
trap 'kill $B 2>/dev/null || true' EXIT
sleep 3
dotnet $BIN/detkafka.dll perf produce --topic t --partitions $P --connections 2 --record-size 100 --num-records 20000 --throughput 20000 --timeout-ms 300000 --bootstrap-server 127.0.0.1:$PORT > $D/warm 2>&1
c0=$(awk '{print $14+$15}' /proc/$B/stat)
args=(produce --topic t --connections $C --record-size 100 --acks all --batch-size 16384 --duration-ms 15000 --timeout-ms 300000 --bootstrap-server 127.0.0.1:$PORT --csv $D/run.csv)
[[ $R != -1 ]] && args+=(--throughput $R)
/usr/bin/time -f "client %U user %S sys %e wall" dotnet $BIN/detkafka.dll perf "${args[@]}" > $D/perf 2> $D/time &
CL=$!
sleep 6
perf trace -s -p $B -o $D/trace.txt -- sleep 5 > /dev/null 2>&1 || true
wait $CL || true
c1=$(awk '{print $14+$15}' /proc/$B/stat)
echo "== $L: partitions $P connections $C rate $R load $(cut -d' ' -f1 /proc/loadavg)"
tail -1 $D/perf; tail -1 $D/time; echo "broker CPU s: $(( (c1 - c0) / $(getconf CLK_TCK) ))"
kill $B; wait $B 2>/dev/null || true
rm -rf $D/data
