//go:build teleforgebench

// Benchmarks that use only the API instrumented code calls, so that they run
// against any version of teleforge_tel.go (before/after comparisons in one
// run). Telemetry is configured from the environment, as in a user's process:
//
//	TELEMETRY_FILE=/tmp/tf-bench.jsonl TELEMETRY_SAMPLE_FIRST=1000000000000 \
//	  go test -tags teleforgebench -run '^$' -bench Compare -benchtime 20000x .
//
// docs/BENCHMARKS.md ("Runtimes") has the script that runs it against the
// previous runtime in the same run.
//
// Sampled out (telemetry on, each site past its first TELEMETRY_SAMPLE_FIRST
// occurrences, so that only powers of two are still recorded): leave
// TELEMETRY_SAMPLE_FIRST unset (100) or small:
//
//	TELEMETRY_FILE=/tmp/tf-bench.jsonl \
//	  go test -tags teleforgebench -run '^$' -bench SampledOut .
//
// On, OTLP to a local receiver: add the teleforge_otlp tag and set
// TELEFORGE_BENCH_OTLP=1, which starts an OTLP/HTTP receiver on 127.0.0.1 in
// the benchmark process and points OTEL_EXPORTER_OTLP_ENDPOINT at it (leave
// TELEMETRY_FILE unset for export alone), or set OTEL_EXPORTER_OTLP_ENDPOINT to
// a receiver of your own:
//
//	TELEFORGE_BENCH_OTLP=1 TELEMETRY_SAMPLE_FIRST=1000000000000 \
//	  go test -tags teleforgebench,teleforge_otlp -run '^$' -bench Compare -benchtime 20000x .

package teleforgetel

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// benchOTLPRequests counts the requests the in-process receiver accepted.
var benchOTLPRequests int64

func init() {
	if os.Getenv("TELEFORGE_BENCH_OTLP") == "" {
		return
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		atomic.AddInt64(&benchOTLPRequests, 1)
		_, _ = w.Write([]byte("{}"))
	}))
	os.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
}

var compareSink int

func compareAtDepth(depth int, f func()) {
	if depth <= 0 {
		f()
		return
	}
	compareAtDepth(depth-1, f)
	compareSink++
}

// A recorded call made from uninstrumented code (the goroutine's outermost
// recorded call): entry + exit.
func BenchmarkCompareRootCall(b *testing.B) {
	xs := []int{1, 2, 3}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s := Tel.FuncEntry("main.f", "main.go", 1, "xs", xs, "i", i)
		Tel.FuncExit(s, i)
	}
}

// Recorded events inside an open recorded call, at several stack depths:
// a nested call (entry + exit) and a loop iteration, 3 events per op.
func BenchmarkCompareNestedAtDepth(b *testing.B) {
	for _, depth := range []int{0, 60, 1000} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			xs := []int{1, 2, 3}
			compareAtDepth(depth, func() {
				outer := Tel.FuncEntry("main.outer", "main.go", 10)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					s := Tel.FuncEntry("main.f", "main.go", 1, "xs", xs, "i", i)
					Tel.LoopIter("main.f", "main.go", 2)
					Tel.FuncExit(s, i)
				}
				b.StopTimer()
				Tel.FuncExit(outer)
			})
		})
	}
}

// Events per second: var_assign events inside an open call, written out.
func BenchmarkCompareThroughput(b *testing.B) {
	outer := Tel.FuncEntry("main.outer", "main.go", 20)
	start := time.Now()
	for i := 0; i < b.N; i++ {
		Tel.VarAssign("main.f", "main.go", 3, "i", i)
	}
	Tel.FuncExit(outer) // writes what is pending (the new runtime)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// A site execution that is sampled out, per call: an entry + exit pair (the
// exit gets the nil span), a loop iteration, an assignment. They run inside an
// open recorded call, as in a program, so that the few occurrences still
// recorded (powers of two: about log2(b.N)) are buffered, not written one by
// one. Skipped when telemetry is off or nothing would be sampled out.
func BenchmarkSampledOut(b *testing.B) {
	if os.Getenv("TELEMETRY_FILE") == "" && os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" {
		b.Skip("telemetry is off: set TELEMETRY_FILE")
	}
	if n, err := strconv.ParseUint(os.Getenv("TELEMETRY_SAMPLE_FIRST"), 10, 64); err == nil && n > 1<<12 {
		b.Skip("TELEMETRY_SAMPLE_FIRST is too large for anything to be sampled out")
	}
	xs := []int{1, 2, 3}
	cases := []struct {
		name string
		site func(i int)
	}{
		{"pair", func(i int) {
			s := Tel.FuncEntry("main.f", "sampled.go", 1, "xs", xs, "i", i)
			Tel.FuncExit(s, i)
		}},
		{"loop_iter", func(i int) { Tel.LoopIter("main.f", "sampled.go", 2) }},
		{"var_assign", func(i int) { Tel.VarAssign("main.f", "sampled.go", 3, "i", i) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			outer := Tel.FuncEntry("main.outer", "sampled.go", 10)
			for i := 0; i < 1<<13; i++ { // past the first occurrences
				c.site(i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c.site(i)
			}
			b.StopTimer()
			Tel.FuncExit(outer)
		})
	}
}
