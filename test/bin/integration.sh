#!/usr/bin/env bash
# integration.sh [LOG]: the integration suite (go test -tags integration
# ./test/...), with the kind stacks test run beside the rest.
#
# TestKindStacksForReal takes ≈ 17–20 minutes, most of it waiting on the
# kernel (a leak's OOM kill), Prometheus and Alertmanager; the rest of the
# suite takes ≈ 15. Run one after the other they are ≈ 32 minutes of a cold
# CI run's 90. So the integration test binary is built once and runs twice
# at the same time: once for that test alone, once (through go test, for
# every package under test/) with it skipped. The logs are joined into LOG
# (default /tmp/lab-integration.log), a `go test -v` log as before: a
# summary goes to stdout, and a failing test's last lines after it.
set -uo pipefail
cd "$(dirname "$0")/../.."
log=${1:-/tmp/lab-integration.log}
go=${GO:-go}
stacks='^TestKindStacksForReal$'
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# What goes to stdout: each package's result, each failing test's name, a
# count of the tests that passed (CI shows the start and the end of a long
# output; the log has every line).
summary() { awk '/^(--- FAIL|FAIL|ok|panic)/ { print } /^--- PASS/ { n++ } END { print "(" n + 0 " tests passed)" }'; }

if ! $go test -c -tags integration -o "$dir/integration.test" ./test/integration >"$dir/build.log" 2>&1; then
  cat "$dir/build.log"
  cp "$dir/build.log" "$log"
  exit 1
fi
# As go test runs a test binary: in its package's folder.
start=$SECONDS
(
  cd test/integration
  "$dir/integration.test" -test.run "$stacks" -test.count=1 -test.timeout 60m -test.v >"$dir/stacks.log" 2>&1
  echo $? >"$dir/stacks.rc"
) &
shard=$!

$go test -tags integration -count=1 -timeout 60m -v -skip "$stacks" ./test/... 2>&1 | tee "$dir/rest.log" | summary
rc=${PIPESTATUS[0]}
echo "the rest of the suite: exit $rc after $((SECONDS - start)) s"

wait "$shard"
src=$(cat "$dir/stacks.rc" 2>/dev/null || echo 1)
summary <"$dir/stacks.log"
echo "TestKindStacksForReal beside it: exit $src after $((SECONDS - start)) s"

cat "$dir/rest.log" "$dir/stacks.log" >"$log"
if ((rc != 0 || src != 0)); then
  test/bin/failures.sh "$log"
  exit 1
fi
