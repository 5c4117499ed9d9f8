package teleforgetel

// Tests of direct OTLP/HTTP export (teleforge_tel_otlp.go, build tag
// teleforge_otlp). They build child programs the way teleforge instruments a
// module (both runtime files copied into every package, package clause
// rewritten), run them against a net/http/httptest receiver on 127.0.0.1 and
// compare what arrives with the events file of the same run. Run with the
// other runtime tests: go test -count=1 ./...

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ------------------------------------------------------------ child program

const otlpChildMain = `package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"tfotlp/lib"
)

func add(a, b int) (r int) {
	defer func(s *teleforgeSpan) { Tel.FuncExit(s, r) }(Tel.FuncEntry("main.add", "main.go", 13, "a", a, "b", b))
	return a + b
}

func work(n int, name string) (total int, err error) {
	defer func(s *teleforgeSpan) { Tel.FuncExit(s, total, err) }(Tel.FuncEntry("main.work", "main.go", 18, "n", n, "name", name))
	for i := 0; i < n; i++ {
		Tel.LoopIter("main.work", "main.go", 20)
		total = add(total, lib.Twice(i))
		Tel.VarAssign("main.work", "main.go", 21, "total", total)
	}
	return total, nil
}

func values(f float64, s string, p *int, big uint64, ok bool, big2 float64) (r float64, q *int) {
	defer func(s *teleforgeSpan) { Tel.FuncExit(s, r, q) }(Tel.FuncEntry("main.values", "main.go", 27, "f", f, "s", s, "p", p, "big", big, "ok", ok, "big2", big2))
	Tel.VarAssign("main.values", "main.go", 28, "s", "quote\" and \\ and \n and é")
	return f * 2, nil
}

func run(mode string) (r int) {
	defer func(s *teleforgeSpan) { Tel.FuncExit(s, r) }(Tel.FuncEntry("main.run", "main.go", 33, "mode", mode))
	r, _ = work(3, "in run")
	if mode == "exit-inside" {
		time.Sleep(time.Second) // the 100 ms timer sends work's spans meanwhile
		fmt.Println("result", r)
		os.Exit(4)
	}
	if mode == "panic" {
		fmt.Println("result", r)
		panic("boom")
	}
	if mode == "burst" {
		for i := 0; i < 60; i++ {
			add(i, i)
		}
	}
	return r
}

func main() {
	mode := os.Args[1]
	switch mode {
	case "basic": // main is not instrumented: three root calls, two in goroutines
		r, _ := work(3, "main")
		var wg sync.WaitGroup
		for g := 0; g < 2; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				work(2, "goroutine "+strconv.Itoa(g))
			}(g)
		}
		wg.Wait()
		values(1.5, "s", nil, 1<<60, true, 1e21)
		fmt.Println("result", r)
	case "exit-outside":
		r, _ := work(3, "main")
		fmt.Println("result", r)
		os.Exit(3)
	case "instrumented-main", "exit-inside", "panic", "burst":
		fmt.Println("result", run(mode))
	case "goroutines":
		r, _ := work(3, "main")
		fmt.Println("result", r, "goroutines", runtimeGoroutines())
	case "roots":
		n, _ := strconv.Atoi(os.Args[2])
		start := time.Now()
		for i := 0; i < n; i++ {
			add(i, i)
		}
		fmt.Println("ns/call", time.Since(start).Nanoseconds()/int64(n))
	}
}
`

const otlpChildGoroutines = `package main

import "runtime"

func runtimeGoroutines() int { return runtime.NumGoroutine() }
`

const otlpChildLib = `package lib

func Twice(n int) (r int) {
	defer func(s *teleforgeSpan) { Tel.FuncExit(s, r) }(Tel.FuncEntry("lib.Twice", "lib/lib.go", 3, "n", n))
	return 2 * n
}
`

// runtimeFor returns a runtime file with its package clause set to pkg, as
// the instrumenter writes it.
func runtimeFor(t testing.TB, file, pkg string) []byte {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	out := bytes.Replace(src, []byte("\npackage teleforgetel\n"), []byte("\npackage "+pkg+"\n"), 1)
	if bytes.Equal(out, src) {
		t.Fatalf("%s: no package clause to rewrite", file)
	}
	return out
}

var (
	childMu    sync.Mutex
	childBuilt = map[string]string{}
)

// otlpChild builds the child program once per test binary (with or without
// the teleforge_otlp tag) and returns its path.
func otlpChild(t *testing.T, tagged bool) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds programs")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	key := fmt.Sprint(tagged)
	childMu.Lock()
	defer childMu.Unlock()
	if p, ok := childBuilt[key]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "tfotlp-child-")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"go.mod":                    []byte("module tfotlp\n\ngo 1.21\n"),
		"main.go":                   []byte(otlpChildMain),
		"goroutines.go":             []byte(otlpChildGoroutines),
		"teleforge_tel.go":          runtimeFor(t, "teleforge_tel.go", "main"),
		"teleforge_tel_otlp.go":     runtimeFor(t, "teleforge_tel_otlp.go", "main"),
		"lib/lib.go":                []byte(otlpChildLib),
		"lib/teleforge_tel.go":      runtimeFor(t, "teleforge_tel.go", "lib"),
		"lib/teleforge_tel_otlp.go": runtimeFor(t, "teleforge_tel_otlp.go", "lib"),
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "tfchild")
	args := []string{"build", "-o", bin}
	if tagged {
		args = append(args, "-tags", "teleforge_otlp")
	}
	cmd := exec.Command(goBin, append(args, ".")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %v: %v\n%s", args, err, out)
	}
	childBuilt[key] = bin
	return bin
}

type childResult struct {
	stdout, stderr string
	code           int
	elapsed        time.Duration
}

// runChild runs the child in mode with a clean telemetry environment plus env.
func runChild(t *testing.T, bin string, env []string, args ...string) childResult {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTEL_") && !strings.HasPrefix(kv, "TELEMETRY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := childResult{stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run child: %v", err)
	}
	return r
}

// ------------------------------------------------------------ receiver

type otlpRequest struct {
	path   string
	header http.Header
	body   []byte
	status int
}

type otlpReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []otlpRequest
	status func(n int) int // status of the n-th request (1-based); nil: 200
	delay  time.Duration
}

func newReceiver(t *testing.T) *otlpReceiver { return newReceiverWith(t, nil, 0) }

// newReceiverWith answers the n-th request with status(n) (nil: 200) after delay.
func newReceiverWith(t *testing.T, status func(n int) int, delay time.Duration) *otlpReceiver {
	r := &otlpReceiver{status: status, delay: delay}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		time.Sleep(r.delay)
		r.mu.Lock()
		n := len(r.reqs) + 1
		status := 200
		if r.status != nil {
			status = r.status(n)
		}
		r.reqs = append(r.reqs, otlpRequest{req.URL.Path, req.Header.Clone(), body, status})
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if status == 200 {
			_, _ = w.Write([]byte("{}"))
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *otlpReceiver) requests() []otlpRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]otlpRequest(nil), r.reqs...)
}

// OTLP/JSON, decoded strictly: an unknown or misspelled field fails the test.
type otlpKV struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

type otlpSpanEvent struct {
	TimeUnixNano string   `json:"timeUnixNano"`
	Name         string   `json:"name"`
	Attributes   []otlpKV `json:"attributes"`
}

type otlpSpan struct {
	TraceID           string          `json:"traceId"`
	SpanID            string          `json:"spanId"`
	ParentSpanID      string          `json:"parentSpanId"`
	Name              string          `json:"name"`
	Kind              int             `json:"kind"`
	StartTimeUnixNano string          `json:"startTimeUnixNano"`
	EndTimeUnixNano   string          `json:"endTimeUnixNano"`
	Attributes        []otlpKV        `json:"attributes"`
	Events            []otlpSpanEvent `json:"events"`
	Status            *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"status"`
}

type otlpExport struct {
	ResourceSpans []struct {
		Resource struct {
			Attributes []otlpKV `json:"attributes"`
		} `json:"resource"`
		ScopeSpans []struct {
			Scope struct {
				Name    string `json:"name"`
				Version string `json:"version"`
			} `json:"scope"`
			Spans []otlpSpan `json:"spans"`
		} `json:"scopeSpans"`
	} `json:"resourceSpans"`
}

func decodeExport(t *testing.T, body []byte) otlpExport {
	t.Helper()
	var e otlpExport
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("not an OTLP/JSON ExportTraceServiceRequest: %v\n%s", err, body)
	}
	if dec.More() {
		t.Fatalf("trailing data after the request")
	}
	return e
}

// received returns the spans of the accepted requests and the resources
// (one attribute map per resource).
func (r *otlpReceiver) received(t *testing.T) ([]otlpSpan, []map[string]string) {
	t.Helper()
	var spans []otlpSpan
	var resources []map[string]string
	for _, req := range r.requests() {
		if req.status != 200 {
			continue
		}
		if req.header.Get("Content-Type") != "application/json" {
			t.Errorf("Content-Type %q", req.header.Get("Content-Type"))
		}
		e := decodeExport(t, req.body)
		for _, rs := range e.ResourceSpans {
			resources = append(resources, kvStrings(t, rs.Resource.Attributes))
			if len(rs.ScopeSpans) != 1 || rs.ScopeSpans[0].Scope.Name != "teleforge" || rs.ScopeSpans[0].Scope.Version != "0.1.0" {
				t.Errorf("scope spans %+v", rs.ScopeSpans)
			}
			for _, ss := range rs.ScopeSpans {
				spans = append(spans, ss.Spans...)
			}
		}
	}
	return spans, resources
}

// kvStrings renders attributes as key -> canonical JSON of the AnyValue.
func kvStrings(t *testing.T, kvs []otlpKV) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, kv := range kvs {
		if _, dup := m[kv.Key]; dup {
			t.Errorf("attribute %q twice", kv.Key)
		}
		m[kv.Key] = canonical(t, kv.Value)
	}
	return m
}

// canonical re-encodes a JSON value (numbers as float64, keys sorted), so that
// 1e+21 and 1e21 compare equal.
func canonical(t *testing.T, raw []byte) string {
	t.Helper()
	var v interface{}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("bad JSON %s: %v", raw, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// ------------------------------------------------------------ expected spans

// wantSpan is a span as docs/TELEMETRY.md ("The mapping") derives it from the
// events file: an independent implementation of `teleforge telemetry export`.
type wantSpan struct {
	id, parent string
	name       string
	start, end string
	attrs      []string // "key=canonical value", in order
	events     []string // "name@time{attrs}", in order
}

func anyValueOf(t *testing.T, v interface{}) string {
	t.Helper()
	switch x := v.(type) {
	case nil:
		return `{}`
	case bool:
		return fmt.Sprintf(`{"boolValue":%v}`, x)
	case string:
		b, _ := json.Marshal(map[string]string{"stringValue": x})
		return string(b)
	case json.Number:
		s := string(x)
		if i, err := strconv.ParseInt(s, 10, 64); err == nil && !strings.ContainsAny(s, ".eE") && s != "-0" {
			return fmt.Sprintf(`{"intValue":"%d"}`, i)
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return fmt.Sprintf(`{"stringValue":"%d"}`, u)
		}
		f, _ := strconv.ParseFloat(s, 64)
		b, _ := json.Marshal(map[string]float64{"doubleValue": f})
		return string(b)
	}
	t.Fatalf("unexpected value %#v", v)
	return ""
}

func attr(t *testing.T, key string, anyValue string) string {
	return key + "=" + canonical(t, []byte(anyValue))
}

func strAttr(t *testing.T, key, v string) string { return attr(t, key, anyValueOf(t, v)) }

func codeAttrs(t *testing.T, e event) []string {
	return []string{
		strAttr(t, "code.function.name", e.str("code.function.name")),
		strAttr(t, "code.file.path", e.str("code.file.path")),
		attr(t, "code.line.number", fmt.Sprintf(`{"intValue":"%d"}`, e.int(t, "code.line.number"))),
	}
}

// expectedSpans assembles the finished spans of an events file.
func expectedSpans(t *testing.T, evs []event) map[string]*wantSpan {
	t.Helper()
	open := map[string]*wantSpan{}
	done := map[string]*wantSpan{}
	for _, e := range evs {
		id := e.str("span_id")
		ts := fmt.Sprint(e.int(t, "ts_unix_nano"))
		switch e.str("kind") {
		case "func_entry":
			s := &wantSpan{id: id, parent: e.str("parent_span_id"), name: e.str("code.function.name"), start: ts}
			s.attrs = append(codeAttrs(t, e), strAttr(t, "thread.name", e.str("thread")))
			var raw map[string]json.RawMessage // the args object as written, in its order
			if err := json.Unmarshal([]byte(e.raw), &raw); err != nil {
				t.Fatal(err)
			}
			args, err := parseLine(string(raw["args"]))
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range args.keys {
				s.attrs = append(s.attrs, attr(t, "teleforge.args."+k, anyValueOf(t, args.m[k])))
			}
			open[id] = s
		case "func_exit":
			s := open[id]
			if s == nil {
				t.Fatalf("exit without entry: %s", e.raw)
			}
			delete(open, id)
			s.end = ts
			for i, v := range e.m["results"].([]interface{}) {
				s.attrs = append(s.attrs, attr(t, fmt.Sprintf("teleforge.results.%d", i), anyValueOf(t, v)))
			}
			done[id] = s
		case "loop_iter", "var_assign":
			s := open[id]
			if s == nil {
				continue
			}
			attrs := codeAttrs(t, e)
			if e.str("kind") == "loop_iter" {
				attrs = append(attrs, attr(t, "teleforge.loop.iteration", fmt.Sprintf(`{"intValue":"%d"}`, e.int(t, "iteration"))))
			} else {
				attrs = append(attrs, strAttr(t, "teleforge.variable.name", e.str("variable")),
					attr(t, "teleforge.variable.value", anyValueOf(t, e.m["value"])))
			}
			s.events = append(s.events, fmt.Sprintf("%s@%s%v", e.str("kind"), ts, attrs))
		}
	}
	return done
}

// gotSpan renders a received span like wantSpan.
func gotSpan(t *testing.T, s otlpSpan) *wantSpan {
	w := &wantSpan{id: s.SpanID, parent: s.ParentSpanID, name: s.Name, start: s.StartTimeUnixNano, end: s.EndTimeUnixNano}
	for _, kv := range s.Attributes {
		w.attrs = append(w.attrs, kv.Key+"="+canonical(t, kv.Value))
	}
	for _, ev := range s.Events {
		var attrs []string
		for _, kv := range ev.Attributes {
			attrs = append(attrs, kv.Key+"="+canonical(t, kv.Value))
		}
		w.events = append(w.events, fmt.Sprintf("%s@%s%v", ev.Name, ev.TimeUnixNano, attrs))
	}
	return w
}

var (
	traceIDRe = regexp.MustCompile(`^[0-9a-f]{32}$`)
	spanIDRe  = regexp.MustCompile(`^[0-9a-f]{16}$`)
)

// checkSpans verifies that the received spans are exactly the finished spans
// of the events file (each once), with one trace per root call.
func checkSpans(t *testing.T, spans []otlpSpan, evs []event) map[string]otlpSpan {
	t.Helper()
	want := expectedSpans(t, evs)
	byID := map[string]otlpSpan{}
	for _, s := range spans {
		if _, dup := byID[s.SpanID]; dup {
			t.Errorf("span %s arrived twice", s.SpanID)
		}
		byID[s.SpanID] = s
		if !traceIDRe.MatchString(s.TraceID) || s.TraceID == strings.Repeat("0", 32) || !spanIDRe.MatchString(s.SpanID) {
			t.Errorf("bad ids %q %q", s.TraceID, s.SpanID)
		}
		if s.Kind != 1 || s.Status != nil {
			t.Errorf("span %s: kind %d status %v", s.SpanID, s.Kind, s.Status)
		}
	}
	if len(byID) != len(want) {
		t.Errorf("%d spans arrived, the events file has %d finished calls", len(byID), len(want))
	}
	for id, w := range want {
		s, ok := byID[id]
		if !ok {
			t.Errorf("span %s (%s) did not arrive", id, w.name)
			continue
		}
		if g := gotSpan(t, s); !reflect.DeepEqual(g, w) {
			t.Errorf("span %s:\n got  %+v\n want %+v", id, *g, *w)
		}
	}
	// Traces: a root starts one; every other span shares its parent's.
	roots := map[string]bool{}
	for _, s := range byID {
		if s.ParentSpanID == "" {
			if roots[s.TraceID] {
				t.Errorf("two root calls share trace %s", s.TraceID)
			}
			roots[s.TraceID] = true
		} else if p, ok := byID[s.ParentSpanID]; !ok || p.TraceID != s.TraceID {
			t.Errorf("span %s: parent %s missing or in another trace", s.Name, s.ParentSpanID)
		}
	}
	return byID
}

func readEventsFile(t *testing.T, path string) []event {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var evs []event
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		e, err := parseLine(sc.Text())
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	return evs
}

func endpointEnv(r *otlpReceiver) string { return "OTEL_EXPORTER_OTLP_ENDPOINT=" + r.URL }

// ------------------------------------------------------------ tests

// 1. Every span arrives once, equal to the events file of the same run;
// parents, traces, names, code.*, args, results, span events, resource.
func TestOTLPSpansEqualTheEventsFile(t *testing.T) {
	bin := otlpChild(t, true)
	rec := newReceiver(t)
	file := filepath.Join(t.TempDir(), "events.jsonl")
	r := runChild(t, bin, []string{"TELEMETRY_FILE=" + file, endpointEnv(rec), "OTEL_SERVICE_NAME=shop",
		"OTEL_RESOURCE_ATTRIBUTES=deployment.environment=test%20env,service.name=ignored"}, "basic")
	if r.code != 0 || r.stdout != "result 6\n" || r.stderr != "" {
		t.Fatalf("child: %+v", r)
	}
	evs := readEventsFile(t, file)
	spans, resources := rec.received(t)
	byID := checkSpans(t, spans, evs)
	if len(byID) != 18 { // work(3): 1+3+3; work(2) twice: 1+2+2; values: 1
		t.Errorf("%d spans", len(byID))
	}
	roots := 0
	for _, s := range byID {
		if s.ParentSpanID == "" {
			roots++
		}
	}
	if roots != 4 {
		t.Errorf("%d root calls, want 4", roots)
	}
	pid := fmt.Sprint(evs[0].int(t, "pid"))
	for _, res := range resources {
		want := map[string]string{
			"service.name":           `{"stringValue":"shop"}`,
			"process.pid":            `{"intValue":"` + pid + `"}`,
			"telemetry.sdk.name":     `{"stringValue":"teleforge"}`,
			"telemetry.sdk.language": `{"stringValue":"go"}`,
			"telemetry.sdk.version":  `{"stringValue":"0.1.0"}`,
			"deployment.environment": `{"stringValue":"test env"}`,
		}
		if !reflect.DeepEqual(res, want) {
			t.Errorf("resource %v, want %v", res, want)
		}
	}
	for _, req := range rec.requests() {
		if req.path != "/v1/traces" {
			t.Errorf("path %q", req.path)
		}
	}
	compareWithExporter(t, file, byID)
}

// compareWithExporter runs `teleforge telemetry export` on the same events
// file when a teleforge binary is at hand (TELEFORGE_BIN, or the workspace's
// target directory) and checks it gives the same spans, ids aside.
func compareWithExporter(t *testing.T, file string, got map[string]otlpSpan) {
	t.Helper()
	bin := os.Getenv("TELEFORGE_BIN")
	if bin == "" {
		for _, p := range []string{"../../../../target/debug/teleforge", "../../../../target/release/teleforge"} {
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				bin = p
				break
			}
		}
	}
	if bin == "" {
		t.Log("no teleforge binary: not compared with `teleforge telemetry export`")
		return
	}
	out := filepath.Join(t.TempDir(), "traces.json")
	cmd := exec.Command(bin, "telemetry", "export", file, "--out", out, "--service-name", "shop")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Logf("teleforge telemetry export failed, not compared: %v\n%s", err, b)
		return
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	traceMap := map[string]string{} // exporter's trace id -> ours
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		e := decodeExport(t, []byte(line))
		for _, rs := range e.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					n++
					g, ok := got[s.SpanID]
					if !ok {
						t.Errorf("exporter span %s (%s) did not arrive", s.SpanID, s.Name)
						continue
					}
					if prev, ok := traceMap[s.TraceID]; ok && prev != g.TraceID {
						t.Errorf("span %s: the exporter's trace grouping differs", s.SpanID)
					}
					traceMap[s.TraceID] = g.TraceID
					a, b := gotSpan(t, s), gotSpan(t, g)
					if !reflect.DeepEqual(a, b) {
						t.Errorf("span %s differs from the exporter's:\n exporter %+v\n direct   %+v", s.SpanID, *a, *b)
					}
				}
			}
		}
	}
	if n != len(got) {
		t.Errorf("exporter: %d spans, direct: %d", n, len(got))
	}
	t.Logf("compared %d spans with %s", n, bin)
}

// 2. Telemetry off: the runtime without the tag links no networking at all
// (the binary stays statically linked); with the tag and nothing set, no
// goroutine is started and nothing is sent.
func TestOTLPOffImportsAndStartsNothing(t *testing.T) {
	plain := otlpChild(t, false)
	tagged := otlpChild(t, true)
	goBin, _ := exec.LookPath("go")
	cmd := exec.Command(goBin, "list", "-deps", ".")
	cmd.Dir = filepath.Dir(plain)
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "net" || dep == "net/http" || dep == "runtime/cgo" || dep == "crypto/tls" {
			t.Errorf("without the teleforge_otlp tag the program imports %s", dep)
		}
	}
	if runtime.GOOS == "linux" {
		for _, bin := range []string{plain} {
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("%s is dynamically linked", bin)
				}
			}
			f.Close()
		}
	}
	for _, bin := range []string{plain, tagged} {
		r := runChild(t, bin, nil, "goroutines")
		if r.stdout != "result 6 goroutines 1\n" || r.stderr != "" || r.code != 0 {
			t.Errorf("%s off: %+v", bin, r)
		}
	}
	// Only the events file: no export, nothing started beyond what the file runtime does.
	rec := newReceiver(t)
	file := filepath.Join(t.TempDir(), "e.jsonl")
	r := runChild(t, tagged, []string{"TELEMETRY_FILE=" + file}, "goroutines")
	if r.stdout != "result 6 goroutines 1\n" || r.stderr != "" {
		t.Errorf("file only: %+v", r)
	}
	if len(rec.requests()) != 0 {
		t.Errorf("requests without an endpoint")
	}
}

// Without the tag an endpoint cannot be used: one line says why, the file
// runtime works as before, the program's output and exit code are unchanged.
func TestOTLPWithoutTheTagSaysSoOnce(t *testing.T) {
	plain := otlpChild(t, false)
	rec := newReceiver(t)
	file := filepath.Join(t.TempDir(), "e.jsonl")
	r := runChild(t, plain, []string{"TELEMETRY_FILE=" + file, endpointEnv(rec)}, "basic")
	if r.code != 0 || r.stdout != "result 6\n" {
		t.Fatalf("child: %+v", r)
	}
	if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); len(lines) != 1 ||
		!strings.Contains(lines[0], "teleforge_otlp build tag") || !strings.Contains(lines[0], rec.URL+"/v1/traces") {
		t.Errorf("stderr %q", r.stderr)
	}
	if len(rec.requests()) != 0 {
		t.Errorf("requests from a program built without the tag")
	}
	if len(readEventsFile(t, file)) == 0 {
		t.Errorf("no events in the file")
	}
}

// 3. OTLP endpoint only: spans arrive and no file is written.
func TestOTLPOnlyWritesNoFile(t *testing.T) {
	bin := otlpChild(t, true)
	rec := newReceiver(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "basic")
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTEL_") && !strings.HasPrefix(kv, "TELEMETRY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="+rec.URL+"/custom/path")
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "result 6\n" {
		t.Fatalf("child: %v %q", err, out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files written: %v", entries)
	}
	spans, resources := rec.received(t)
	if len(spans) != 18 {
		t.Errorf("%d spans, want 18", len(spans))
	}
	for _, req := range rec.requests() {
		if req.path != "/custom/path" {
			t.Errorf("the traces endpoint is used as given: path %q", req.path)
		}
	}
	for _, res := range resources {
		if res["service.name"] != `{"stringValue":"unknown_service:tfchild"}` {
			t.Errorf("default service.name %s", res["service.name"])
		}
	}
}

// 4. The program ends right after its last call, or by os.Exit, or by a
// panic: the finished spans arrive.
func TestOTLPSpansSurviveTheEnd(t *testing.T) {
	bin := otlpChild(t, true)
	cases := []struct {
		mode   string
		code   int
		spans  int // spans that must arrive
		stdout string
	}{
		{"basic", 0, 18, "result 6\n"},            // main (not instrumented) returns right after
		{"exit-outside", 3, 7, "result 6\n"},      // os.Exit right after the last call
		{"instrumented-main", 0, 8, "result 6\n"}, // the last call is main's own
		{"panic", 2, 8, "result 6\n"},             // a panic unwinds through the root call
		{"exit-inside", 4, 7, "result 6\n"},       // os.Exit inside run: run itself is lost (documented)
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			rec := newReceiver(t)
			file := filepath.Join(t.TempDir(), "e.jsonl")
			r := runChild(t, bin, []string{"TELEMETRY_FILE=" + file, endpointEnv(rec)}, c.mode)
			if r.code != c.code || r.stdout != c.stdout {
				t.Fatalf("child: %+v", r)
			}
			if c.mode != "panic" && r.stderr != "" {
				t.Errorf("stderr %q", r.stderr)
			}
			spans, _ := rec.received(t)
			if len(spans) != c.spans {
				t.Errorf("%d spans arrived, want %d", len(spans), c.spans)
			}
			byID := map[string]bool{}
			for _, s := range spans {
				byID[s.SpanID] = true
			}
			for id, w := range expectedSpans(t, readEventsFile(t, file)) {
				if !byID[id] {
					t.Errorf("finished span %s (%s) did not arrive", id, w.name)
				}
			}
		})
	}
}

// 5. An unreachable endpoint: same stdout and exit code as without export,
// at most one stderr line, a bounded delay.
func TestOTLPUnreachableEndpoint(t *testing.T) {
	bin := otlpChild(t, true)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close() // nothing listens there now
	for _, mode := range []string{"basic", "exit-outside", "instrumented-main"} {
		off := runChild(t, bin, nil, mode)
		r := runChild(t, bin, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + url}, mode)
		if r.stdout != off.stdout || r.code != off.code {
			t.Errorf("%s: %+v, without export %+v", mode, r, off)
		}
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		re := regexp.MustCompile(`^teleforge Tel: OTLP export to ` + regexp.QuoteMeta(url+"/v1/traces") + ` failed: .*(connection refused|actively refused).*; [1-9][0-9]* spans dropped$`)
		if len(lines) != 1 || !re.MatchString(lines[0]) {
			t.Errorf("%s: stderr %q", mode, r.stderr)
		}
		if r.elapsed > off.elapsed+3*time.Second {
			t.Errorf("%s: took %v (without export %v)", mode, r.elapsed, off.elapsed)
		}
		t.Logf("%s: %v with an unreachable endpoint, %v without export", mode, r.elapsed, off.elapsed)
	}
}

// 6. 429, then 200: the batch is retried and each span arrives once.
func TestOTLPRetriesAfter429(t *testing.T) {
	bin := otlpChild(t, true)
	rec := newReceiverWith(t, func(n int) int {
		if n == 1 || n == 3 {
			return 429
		}
		return 200
	}, 0)
	file := filepath.Join(t.TempDir(), "e.jsonl")
	r := runChild(t, bin, []string{"TELEMETRY_FILE=" + file, endpointEnv(rec)}, "basic")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("child: %+v", r)
	}
	reqs := rec.requests()
	if len(reqs) < 3 || reqs[0].status != 429 || !bytes.Equal(reqs[0].body, reqs[1].body) {
		t.Errorf("the refused request was not sent again as it was")
	}
	spans, _ := rec.received(t)
	checkSpans(t, spans, readEventsFile(t, file))
}

// Other statuses are not retried: the batch is dropped with one line.
func TestOTLPBadRequestIsDroppedOnce(t *testing.T) {
	bin := otlpChild(t, true)
	rec := newReceiverWith(t, func(int) int { return 400 }, 0)
	r := runChild(t, bin, []string{endpointEnv(rec)}, "basic")
	if r.code != 0 || r.stdout != "result 6\n" {
		t.Fatalf("child: %+v", r)
	}
	if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "failed: HTTP 400;") {
		t.Errorf("stderr %q", r.stderr)
	}
	bodies := map[string]int{}
	for _, req := range rec.requests() {
		bodies[string(req.body)]++
	}
	for _, n := range bodies {
		if n != 1 {
			t.Errorf("a request refused with 400 was sent %d times", n)
		}
	}
}

// 7. gRPC is not supported: export off with one line; OTEL_SDK_DISABLED and
// OTEL_TRACES_EXPORTER=none switch export off silently.
func TestOTLPProtocolAndDisabling(t *testing.T) {
	bin := otlpChild(t, true)
	for _, env := range [][]string{
		{"OTEL_EXPORTER_OTLP_PROTOCOL=grpc"},
		{"OTEL_EXPORTER_OTLP_PROTOCOL=http/json", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=gRPC"},
		{"OTEL_SDK_DISABLED=TRUE"},
		{"OTEL_TRACES_EXPORTER=none"},
		{"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"}, // JSON is sent: receivers accept it on the same path
	} {
		rec := newReceiver(t)
		file := filepath.Join(t.TempDir(), "e.jsonl")
		r := runChild(t, bin, append([]string{"TELEMETRY_FILE=" + file, endpointEnv(rec)}, env...), "basic")
		if r.code != 0 || r.stdout != "result 6\n" {
			t.Fatalf("%v: %+v", env, r)
		}
		spans, _ := rec.received(t)
		grpc := strings.Contains(strings.ToLower(strings.Join(env, " ")), "grpc")
		switch {
		case grpc:
			if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); len(lines) != 1 ||
				!strings.Contains(lines[0], "gRPC protocol is not supported") || !strings.Contains(lines[0], "4318") {
				t.Errorf("%v: stderr %q", env, r.stderr)
			}
			if len(rec.requests()) != 0 {
				t.Errorf("%v: requests sent", env)
			}
		case strings.HasPrefix(env[0], "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"):
			if r.stderr != "" || len(spans) != 18 {
				t.Errorf("%v: %d spans, stderr %q", env, len(spans), r.stderr)
			}
		default:
			if r.stderr != "" || len(rec.requests()) != 0 {
				t.Errorf("%v: stderr %q, %d requests", env, r.stderr, len(rec.requests()))
			}
		}
		if len(readEventsFile(t, file)) == 0 {
			t.Errorf("%v: the events file is still written", env)
		}
	}
}

// Headers (percent-decoded, the TRACES variable winning per key), the
// endpoint's one slash, service.name from OTEL_RESOURCE_ATTRIBUTES.
func TestOTLPHeadersEndpointAndResource(t *testing.T) {
	bin := otlpChild(t, true)
	rec := newReceiver(t)
	r := runChild(t, bin, []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + rec.URL + "/base/",
		"OTEL_EXPORTER_OTLP_HEADERS=Authorization=Basic%20abc%3D%3D, X-Team = core ,X-Both=general",
		"OTEL_EXPORTER_OTLP_TRACES_HEADERS=x-both=traces",
		"OTEL_RESOURCE_ATTRIBUTES=service.name=from%2Fattrs,host.name=box",
	}, "basic")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("child: %+v", r)
	}
	reqs := rec.requests()
	if len(reqs) == 0 {
		t.Fatal("no request")
	}
	for _, req := range reqs {
		if req.path != "/base/v1/traces" {
			t.Errorf("path %q", req.path)
		}
		if got := req.header.Get("Authorization"); got != "Basic abc==" {
			t.Errorf("Authorization %q", got)
		}
		if got := req.header.Get("X-Team"); got != "core" {
			t.Errorf("X-Team %q", got)
		}
		if got := req.header.Values("X-Both"); !reflect.DeepEqual(got, []string{"traces"}) {
			t.Errorf("X-Both %q", got)
		}
	}
	_, resources := rec.received(t)
	for _, res := range resources {
		if res["service.name"] != `{"stringValue":"from/attrs"}` || res["host.name"] != `{"stringValue":"box"}` {
			t.Errorf("resource %v", res)
		}
	}
}

// A full queue drops spans, never blocks, and says so once.
func TestOTLPQueueFullDropsAndSaysSo(t *testing.T) {
	bin := otlpChild(t, true)
	rec := newReceiverWith(t, nil, 200*time.Millisecond)
	file := filepath.Join(t.TempDir(), "e.jsonl")
	r := runChild(t, bin, []string{"TELEMETRY_FILE=" + file, endpointEnv(rec), "OTEL_BSP_MAX_QUEUE_SIZE=5"}, "burst")
	if r.code != 0 || r.stdout != "result 6\n" {
		t.Fatalf("child: %+v", r)
	}
	if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); len(lines) != 1 ||
		!regexp.MustCompile(`failed: the queue was full \(OTEL_BSP_MAX_QUEUE_SIZE=5\); [1-9][0-9]* spans dropped$`).MatchString(lines[0]) {
		t.Errorf("stderr %q", r.stderr)
	}
	spans, _ := rec.received(t)
	want := expectedSpans(t, readEventsFile(t, file))
	if len(spans) == 0 || len(spans) >= len(want) {
		t.Errorf("%d of %d spans arrived", len(spans), len(want))
	}
	seen := map[string]bool{}
	for _, s := range spans {
		if seen[s.SpanID] || want[s.SpanID] == nil {
			t.Errorf("span %s twice or unknown", s.SpanID)
		}
		seen[s.SpanID] = true
	}
}

// The OTLP file, like the runtime, compiles inside any package and under Go
// 1.16 language rules (a go.mod without a go line).
func TestOTLPFileCompilesAnywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	dir := t.TempDir()
	files := map[string][]byte{
		"go.mod":                []byte("module old\n"),
		"main.go":               []byte("package main\n\nfunc main() { Tel.FuncExit(Tel.FuncEntry(\"main.main\", \"main.go\", 3)) }\n"),
		"shadow.go":             []byte("package main\n\nvar os, http, net, url, strings, strconv, sync, time, io, binary, crand, bytes, fmt int\nvar span, sink, queue, client, request, event, value, lines int\n\nfunc init() {}\n"),
		"teleforge_tel.go":      runtimeFor(t, "teleforge_tel.go", "main"),
		"teleforge_tel_otlp.go": runtimeFor(t, "teleforge_tel_otlp.go", "main"),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"vet", "-tags", "teleforge_otlp", "."}, {"build", "-tags", "teleforge_otlp", "-o", os.DevNull, "."}} {
		cmd := exec.Command(goBin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=", "GOTOOLCHAIN=local", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %v under go 1.16 rules: %v\n%s", args, err, out)
		}
	}
}

// The cost of a recorded root call with export on (each one is a point where
// the runtime waits for its spans to be sent), against the file only.
func TestOTLPRootCallCost(t *testing.T) {
	bin := otlpChild(t, true)
	rec := newReceiver(t)
	file := filepath.Join(t.TempDir(), "e.jsonl")
	cost := func(env ...string) string {
		r := runChild(t, bin, append(env, "TELEMETRY_SAMPLE_FIRST=1000000"), "roots", "2000")
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("child: %+v", r)
		}
		return strings.TrimSpace(r.stdout)
	}
	t.Logf("off: %s; file: %s; OTLP: %s; both: %s", cost(), cost("TELEMETRY_FILE="+file),
		cost(endpointEnv(rec)), cost("TELEMETRY_FILE="+file, endpointEnv(rec)))
	spans, _ := rec.received(t)
	if len(spans) != 4000 {
		t.Errorf("%d spans arrived, want 4000", len(spans))
	}
}

// https:// works through net/http with the system's roots (here a test
// certificate trusted through SSL_CERT_FILE, which Go reads on Linux).
func TestOTLPOverHTTPS(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SSL_CERT_FILE is read on Linux")
	}
	bin := otlpChild(t, true)
	var mu sync.Mutex
	var bodies [][]byte
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		_, _ = w.Write([]byte("{}"))
	}))
	defer srv.Close()
	certFile := filepath.Join(t.TempDir(), "ca.pem")
	var pemText bytes.Buffer
	pemText.WriteString("-----BEGIN CERTIFICATE-----\n")
	enc := base64Lines(srv.Certificate().Raw)
	pemText.WriteString(enc)
	pemText.WriteString("-----END CERTIFICATE-----\n")
	if err := os.WriteFile(certFile, pemText.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runChild(t, bin, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + srv.URL, "SSL_CERT_FILE=" + certFile}, "basic")
	if r.code != 0 || r.stderr != "" || r.stdout != "result 6\n" {
		t.Fatalf("child: %+v", r)
	}
	n := 0
	mu.Lock()
	defer mu.Unlock()
	for _, b := range bodies {
		for _, rs := range decodeExport(t, b).ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				n += len(ss.Spans)
			}
		}
	}
	if n != 18 {
		t.Errorf("%d spans over https, want 18", n)
	}
}

func base64Lines(der []byte) string {
	s := base64.StdEncoding.EncodeToString(der)
	var b strings.Builder
	for len(s) > 64 {
		b.WriteString(s[:64] + "\n")
		s = s[64:]
	}
	b.WriteString(s + "\n")
	return b.String()
}

// A receiver that does not answer in time: the program waits at most
// OTEL_EXPORTER_OTLP_TIMEOUT at its end, and says so in one line.
func TestOTLPTimeoutBoundsTheWait(t *testing.T) {
	bin := otlpChild(t, true)
	rec := newReceiverWith(t, nil, 1500*time.Millisecond)
	off := runChild(t, bin, nil, "instrumented-main")
	r := runChild(t, bin, []string{endpointEnv(rec), "OTEL_EXPORTER_OTLP_TIMEOUT=200"}, "instrumented-main")
	if r.code != 0 || r.stdout != off.stdout {
		t.Fatalf("child: %+v", r)
	}
	if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); len(lines) != 1 ||
		!regexp.MustCompile(`failed: .*(Timeout|timeout|deadline).*; [1-8] spans dropped$`).MatchString(lines[0]) {
		t.Errorf("stderr %q", r.stderr)
	}
	if r.elapsed > off.elapsed+time.Second {
		t.Errorf("took %v with a 200 ms timeout", r.elapsed)
	}
}
