#!/bin/sh
# Runtime micro-benchmarks, this checkout's runtimes against those of an earlier commit, in one run
# (docs/BENCHMARKS.md, "Runtimes"). About 5 minutes on 2 cores.
#   crates/teleforge-instrument/runtime/bench_runtimes.sh [BEFORE_REV]   (default: 7a5af8b)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
rev=${1:-7a5af8b}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rel=crates/teleforge-instrument/runtime
mkdir -p "$tmp/py" "$tmp/js" "$tmp/go"
git -C "$here" show "$rev:$rel/python/_teleforge_tel.py" > "$tmp/py/_teleforge_tel.py"
git -C "$here" show "$rev:$rel/javascript/_teleforge_tel.cjs" > "$tmp/js/_teleforge_tel.cjs"
git -C "$here" show "$rev:$rel/go/teleforge_tel.go" > "$tmp/go/teleforge_tel.go"
cp "$here/go/go.mod" "$here/go/teleforge_bench_test.go" "$tmp/go/"

echo "### Python (before = $rev)"
python3 "$here/python/bench_teleforge_tel.py" --before "$tmp/py"
echo
echo "### JavaScript (before = $rev)"
node "$here/javascript/bench_teleforge_tel.cjs" --before "$tmp/js"
echo
echo "### Go (before = $rev), alternating, 3 rounds; ns/op of 1 op (root call: 2 events; nested: 3 events)"
for round in 1 2 3; do
  for which in before after; do
    dir=$here/go
    [ "$which" = before ] && dir=$tmp/go
    rm -f "$tmp/events.jsonl"
    echo "-- round $round, $which"
    (cd "$dir" && TELEMETRY_FILE="$tmp/events.jsonl" TELEMETRY_SAMPLE_FIRST=1000000000000 \
      go test -tags teleforgebench -run '^$' -bench Compare -benchtime 20000x . | grep '^Benchmark')
  done
done
echo
echo "### Throughput, every event written, 5 alternating rounds (events/s; 200,000 events, best of 3 each)"
for round in 1 2 3 4 5; do
  for which in before after; do
    pydir=$here/python; jsrt=$here/javascript/_teleforge_tel.cjs
    [ "$which" = before ] && { pydir=$tmp/py; jsrt=$tmp/js/_teleforge_tel.cjs; }
    rm -f "$tmp/events.jsonl"
    py=$(PYTHONPATH="$pydir" TELEMETRY_FILE="$tmp/events.jsonl" TELEMETRY_SAMPLE_FIRST=1000000000000 \
      BENCH_ONLY_THROUGHPUT=1 python3 "$here/python/bench_teleforge_tel.py" --child)
    rm -f "$tmp/events.jsonl"
    js=$(BENCH_RUNTIME="$jsrt" TELEMETRY_FILE="$tmp/events.jsonl" TELEMETRY_SAMPLE_FIRST=1000000000000 \
      BENCH_ONLY_THROUGHPUT=1 BENCH_N=1 node "$here/javascript/bench_teleforge_tel.cjs" --child)
    echo "round $round $which python $py javascript $js"
  done
done
echo "-- telemetry off (this runtime)"
(cd "$here/go" && go test -run '^$' -bench 'Disabled|SumPlain|SampledOut' -benchtime 2000000x . | grep '^Benchmark')
