#!/usr/bin/env bash
# test.sh: the one command that runs every DetKafka test.
#
# Usage:  ./test.sh            (from anywhere; it works from the repository root)
#
# What it does, in order:
#   1. Makes sure the real Kafka clients the chaos tests drive are installed: kcat, and python3-kafka plus
#      python3-confluent-kafka for Debian's /usr/bin/python3 with the compression modules kafka-python uses
#      (python3-snappy, python3-lz4, python3-zstandard), and kafkajs plus its codecs from npm
#      (tests/chaos/clients/node). Missing ones are installed with apt-get (as root, or through sudo) or npm ci.
#      If that is impossible the script fails loudly: a real-client test never skips silently.
#   2. Builds the whole solution once, in Release (the chaos tests run the built broker binary).
#   3. Runs each test suite (every tests/<name>/ holding a .csproj; tests/properties and tests/chaos must exist)
#      with `dotnet test --no-build -c Release`, writing a TRX report per suite to artifacts/test-results/, and
#      reads the pass/fail counters from the reports.
#   4. Ends with exactly one summary line `N passed, M failed`.
#
# Exit status: non-zero if the build fails, any test fails, or any suite did not run cleanly (no report, no
# test, or a test skipped or aborted). A test that hangs is killed by --blame-hang-timeout and counts as broken.
# Broker logs from the chaos tests are kept under tests/chaos/bin/Release/net10.0/broker-logs/.
# Run one suite by hand:  dotnet test tests/chaos -c Release --filter "FullyQualifiedName~KcatTests"
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
ROOT="$(pwd)"
# Every test project under tests/ is a suite; these two must exist.
REQUIRED_SUITES=(tests/properties tests/chaos)
RESULTS="$ROOT/artifacts/test-results"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

log() { printf '==> %s\n' "$*" >&2; }
die() {
  printf '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' >&2
  printf '!!! test.sh: %s\n' "$*" >&2
  printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n' >&2
  exit 1
}

# kafka-python compresses with python-snappy (snappy), python-lz4 (lz4.frame) and python-zstandard (zstandard).
APT_CLIENTS=(kcat python3-kafka python3-confluent-kafka python3-snappy python3-lz4 python3-zstandard)

clients_present() {
  command -v kcat >/dev/null 2>&1 &&
    /usr/bin/python3 -c 'import kafka, confluent_kafka, snappy, lz4.frame, zstandard' >/dev/null 2>&1
}

ensure_clients() {
  if clients_present; then return; fi
  log "installing the real Kafka clients (${APT_CLIENTS[*]})"
  local as_root=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 ||
      die "some of ${APT_CLIENTS[*]} are missing and we are neither root nor have sudo"
    as_root=(sudo -n)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -q ||
    die "apt-get update failed; cannot install the real Kafka clients"
  "${as_root[@]}" apt-get install -y -q "${APT_CLIENTS[@]}" ||
    die "apt-get install ${APT_CLIENTS[*]} failed"
  clients_present ||
    die "the real Kafka clients are still unusable after installing (kcat on PATH, /usr/bin/python3 with kafka, confluent_kafka, snappy, lz4.frame and zstandard)"
}

# kafkajs and the codec packages it compresses with come from npm, pinned by tests/chaos/clients/node/package-lock.json;
# node and npm from Debian if absent.
NODE_MODULES=(kafkajs kafkajs-snappy lz4js @mongodb-js/zstd)
ensure_node_clients() {
  local dir=tests/chaos/clients/node
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    log "installing node and npm for kafkajs"
    local as_root=()
    [[ $(id -u) -eq 0 ]] || as_root=(sudo -n)
    export DEBIAN_FRONTEND=noninteractive
    "${as_root[@]}" apt-get update -q && "${as_root[@]}" apt-get install -y -q nodejs npm ||
      die "could not install nodejs and npm for the kafkajs tests"
  fi
  local m missing=0
  for m in "${NODE_MODULES[@]}"; do [[ -d $dir/node_modules/$m ]] || missing=1; done
  if ((missing)); then
    log "installing ${NODE_MODULES[*]} (npm ci in $dir)"
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error ||
      die "npm ci failed: cannot install ${NODE_MODULES[*]} for the chaos tests"
  fi
  for m in "${NODE_MODULES[@]}"; do
    node -e "require('$ROOT/$dir/node_modules/$m')" ||
      die "$m is still unusable after npm ci"
  done
}

solution_file() {
  local f
  for f in DetKafka.sln DetKafka.slnx; do
    [[ -f $f ]] && { echo "$f"; return; }
  done
  die "no DetKafka.sln or DetKafka.slnx in $ROOT"
}

# Prints the names of the failed tests in a TRX report, each with the first lines of its message, so the tail of a
# CI log says what broke.
trx_failures() {
  /usr/bin/python3 - "$1" <<'PY' || true
import sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
for r in ET.parse(sys.argv[1]).getroot().iterfind(".//t:UnitTestResult", ns):
    if r.get("outcome") != "Failed":
        continue
    msg = r.find("t:Output/t:ErrorInfo/t:Message", ns)
    lines = (msg.text or "").strip().splitlines()[:6] if msg is not None else []
    print("FAILED: " + r.get("testName", "?"))
    for line in lines:
        print("    " + line[:300])
PY
}

# Prints "passed failed total" from a TRX report's <Counters .../> element.
trx_counts() {
  local counters attr v out=()
  counters="$(grep -o '<Counters [^>]*>' "$1" | head -n 1)" || return 1
  for attr in passed failed total; do
    v="$(sed -n "s/.* $attr=\"\([0-9]*\)\".*/\1/p" <<<"$counters")"
    [[ -n $v ]] || return 1
    out+=("$v")
  done
  echo "${out[@]}"
}

find_suites() {
  local dir required
  SUITES=()
  for dir in tests/*/; do
    compgen -G "$dir*.csproj" >/dev/null && SUITES+=("${dir%/}")
  done
  for required in "${REQUIRED_SUITES[@]}"; do
    [[ " ${SUITES[*]} " == *" $required "* ]] || die "test suite $required is missing"
  done
}

find_suites
ensure_clients
ensure_node_clients

SLN="$(solution_file)"
log "building $SLN (Release)"
dotnet build "$SLN" -c Release -nologo || die "build failed"

rm -rf "$RESULTS"
mkdir -p "$RESULTS"
total_passed=0
total_failed=0
broken=()
failures=()

for suite in "${SUITES[@]}"; do
  name="$(basename "$suite")"
  trx="$RESULTS/$name.trx"
  log "running $suite"
  rc=0
  dotnet test "$suite" --no-build -c Release -nologo \
    --results-directory "$RESULTS" --logger "trx;LogFileName=$name.trx" --logger "console;verbosity=normal" \
    --blame-hang-timeout 10min --blame-hang-dump-type none </dev/null || rc=$?

  if [[ ! -f $trx ]] || ! counts="$(trx_counts "$trx")"; then
    broken+=("$suite (no test report; dotnet test exited $rc)")
    continue
  fi
  read -r passed failed total <<<"$counts"
  log "$suite: $passed passed, $failed failed, $total total (dotnet test exited $rc)"
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  ((failed == 0)) || failures+=("$(trx_failures "$trx")")
  if ((total == 0)); then
    broken+=("$suite (ran no test)")
  elif ((rc != 0 && failed == 0)); then
    broken+=("$suite (dotnet test exited $rc with no failed test counted)")
  elif ((passed + failed != total)); then
    # Skipped, aborted or timed-out tests: a real-client test must never be quietly left out.
    broken+=("$suite ($((total - passed - failed)) of $total tests neither passed nor failed)")
  fi
done

for f in "${failures[@]}"; do
  printf '%s\n' "$f" >&2
done
for b in "${broken[@]}"; do
  printf 'SUITE DID NOT RUN CLEANLY: %s\n' "$b" >&2
done
echo "$total_passed passed, $total_failed failed"
if ((total_failed == 0 && ${#broken[@]} == 0)); then exit 0; fi
exit 1
