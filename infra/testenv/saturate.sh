#!/usr/bin/env bash
# saturate.sh runs the cluster exactness tests while `yes` processes keep
# every core busy, to check by hand that rate limits stay exact on a loaded
# machine (a forward to a busy owner must not fail open, a starved member
# must not be declared dead). `make test` covers the same ground with
# TestExactnessUnderCPULoad; this script is for longer or heavier runs.
#
# Usage: infra/testenv/saturate.sh [-n LOADS] [-c COUNT] [-p] [-r REGEX]
#   -n LOADS  number of `yes > /dev/null` processes (default: 2 × cores)
#   -c COUNT  go test -count (default 3)
#   -p        also run cmd/keyline's TestClusterRatelimitWithoutRedis (three
#             keyline processes; needs PostgreSQL, see ensure-services.sh)
#   -r REGEX  infra/cluster tests to run (default: the exactness, fail-mode
#             and starved-member tests)
#
# The test binaries are built before the load starts, and the load is
# stopped on any exit (also Ctrl-C). Exit status: that of the tests.
set -euo pipefail

cd "$(dirname "$0")/../.."
loads=$(( 2 * $(nproc) ))
count=3
process=0
regex='TestForwardedDecisionsAreExact|TestOwnerCrashAccuracy|TestBatchAcrossOwnersIsAllOrNothing|TestFailModeWhenOwnerUnreachable|TestStarvedMemberIsNotDeclaredDead'
while getopts 'n:c:pr:' opt; do
  case $opt in
    n) loads=$OPTARG ;;
    c) count=$OPTARG ;;
    p) process=1 ;;
    r) regex=$OPTARG ;;
    *) sed -n '2,17p' "$0"; exit 2 ;;
  esac
done

bin=$(mktemp -d)
pids=()
stop_load() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$bin"
}
trap stop_load EXIT

echo "building test binaries (-race)..."
go test -race -c -o "$bin/cluster.test" ./infra/cluster
[ "$process" = 1 ] && go test -race -c -o "$bin/keyline.test" ./cmd/keyline

echo "starting $loads × yes > /dev/null on $(nproc) cores"
for _ in $(seq "$loads"); do
  yes > /dev/null &
  pids+=($!)
done

status=0
(cd infra/cluster && "$bin/cluster.test" -test.count="$count" -test.run "$regex" -test.v -test.timeout 10m) || status=1
if [ "$process" = 1 ]; then
  (cd cmd/keyline && "$bin/keyline.test" -test.count="$count" -test.run 'TestClusterRatelimitWithoutRedis' -test.v -test.timeout 10m) || status=1
fi
exit "$status"
