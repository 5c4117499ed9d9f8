package teleforgetel

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// ---------------------------------------------------------------- helpers

// resetTel puts the runtime back into its never-called state and sets the
// environment it will read on the next call. It is restored after the test.
func resetTel(tb testing.TB, file, sampleFirst string) {
	tb.Helper()
	reset := func() {
		if c := testCore(); c != nil {
			c.Flush()
		}
		teleforgeRT = nil
		teleforgeOnce = sync.Once{}
		atomic.StoreUint32(&teleforgeMode, teleforgeModeUnknown)
		// The previous core stays registered process-wide; start a new one.
		testGeneration++
		teleforgeCoreMagic = fmt.Sprintf("\x00teleforge-test-core-%d\x00", testGeneration)
	}
	reset()
	tb.Setenv("TELEMETRY_FILE", file)
	tb.Setenv("TELEMETRY_SAMPLE_FIRST", sampleFirst)
	tb.Cleanup(reset)
}

var testGeneration int

// testCore returns this copy's shared core, or nil.
func testCore() *teleforgeCore {
	switch c := teleforgeRT.(type) {
	case teleforgeCoreImage:
		return c.teleforgeCore
	case *teleforgeCore:
		return c
	}
	return nil
}

func enable(tb testing.TB, sampleFirst string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "events.jsonl")
	resetTel(tb, path, sampleFirst)
	return path
}

type event struct {
	raw  string
	keys []string
	m    map[string]any
}

func (e event) str(k string) string {
	s, _ := e.m[k].(string)
	return s
}

func (e event) int(t *testing.T, k string) int64 {
	t.Helper()
	n, ok := e.m[k].(json.Number)
	if !ok {
		t.Fatalf("%s is not a number in %s", k, e.raw)
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatalf("%s is not an integer in %s", k, e.raw)
	}
	return i
}

// parseLine decodes one JSON object, keeping its key order.
func parseLine(line string) (event, error) {
	e := event{raw: line, m: map[string]any{}}
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return e, err
	}
	if tok != json.Delim('{') {
		return e, fmt.Errorf("not an object: %q", line)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return e, err
		}
		key, ok := tok.(string)
		if !ok {
			return e, fmt.Errorf("bad key in %q", line)
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return e, err
		}
		if _, dup := e.m[key]; dup {
			return e, fmt.Errorf("duplicate key %q in %q", key, line)
		}
		e.keys = append(e.keys, key)
		e.m[key] = v
	}
	if _, err := dec.Token(); err != nil {
		return e, err
	}
	if dec.More() {
		return e, fmt.Errorf("trailing data in %q", line)
	}
	return e, nil
}

func readEvents(t *testing.T, path string) []event {
	t.Helper()
	if c := testCore(); c != nil {
		c.Flush() // events still inside open spans of this test
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read events: %v", err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("file does not end with a newline")
	}
	var evs []event
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		e, err := parseLine(sc.Text())
		if err != nil {
			t.Fatalf("invalid JSON line: %v", err)
		}
		evs = append(evs, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return evs
}

var (
	hexID    = regexp.MustCompile(`^[0-9a-f]{16}$`)
	threadRe = regexp.MustCompile(`^goroutine-(0|[1-9][0-9]*)$`) // 0: not identified (deep stack)
	intRe    = regexp.MustCompile(`^-?[0-9]+$`)
)

var commonKeys = []string{
	"ts_unix_nano", "kind", "span_id", "parent_span_id", "thread", "pid",
	"code.function.name", "code.file.path", "code.line.number",
}

var kindKeys = map[string][]string{
	"func_entry": {"args"},
	"func_exit":  {"duration_ns", "results"},
	"loop_iter":  {"iteration"},
	"var_assign": {"variable", "value"},
}

// checkShape verifies every spec field, its JSON type and the field order.
func checkShape(t *testing.T, e event) {
	t.Helper()
	checkShapePid(t, e, os.Getpid())
}

func checkShapePid(t *testing.T, e event, wantPid int) {
	t.Helper()
	kind := e.str("kind")
	extra, ok := kindKeys[kind]
	if !ok {
		t.Fatalf("unknown kind in %s", e.raw)
	}
	want := append(append([]string{}, commonKeys...), extra...)
	if !reflect.DeepEqual(e.keys, want) {
		t.Fatalf("keys = %v, want %v in %s", e.keys, want, e.raw)
	}
	for _, k := range []string{"ts_unix_nano", "pid", "code.line.number"} {
		if n, ok := e.m[k].(json.Number); !ok || !intRe.MatchString(string(n)) {
			t.Fatalf("%s not an integer in %s", k, e.raw)
		}
	}
	ts := e.int(t, "ts_unix_nano")
	if now := time.Now().UnixNano(); ts <= 0 || ts > now || now-ts > int64(time.Hour) {
		t.Fatalf("ts_unix_nano %d not a recent wall-clock time", ts)
	}
	if pid := e.int(t, "pid"); pid != int64(wantPid) {
		t.Fatalf("pid = %d, want %d", pid, wantPid)
	}
	if !threadRe.MatchString(e.str("thread")) {
		t.Fatalf("thread %q", e.m["thread"])
	}
	for _, k := range []string{"code.function.name", "code.file.path"} {
		if _, ok := e.m[k].(string); !ok {
			t.Fatalf("%s not a string in %s", k, e.raw)
		}
	}
	for _, k := range []string{"span_id", "parent_span_id"} {
		switch v := e.m[k].(type) {
		case nil:
			if k == "span_id" && (kind == "func_entry" || kind == "func_exit") {
				t.Fatalf("span_id null in %s", e.raw)
			}
		case string:
			if !hexID.MatchString(v) {
				t.Fatalf("%s = %q is not 16 hex", k, v)
			}
		default:
			t.Fatalf("%s has type %T", k, v)
		}
	}
	if e.m["span_id"] == nil && e.m["parent_span_id"] != nil {
		t.Fatalf("parent without span in %s", e.raw)
	}
	switch kind {
	case "func_entry":
		if _, ok := e.m["args"].(map[string]any); !ok {
			t.Fatalf("args not an object in %s", e.raw)
		}
	case "func_exit":
		if d := e.int(t, "duration_ns"); d < 0 {
			t.Fatalf("negative duration in %s", e.raw)
		}
		if _, ok := e.m["results"].([]any); !ok {
			t.Fatalf("results not an array in %s", e.raw)
		}
	case "loop_iter":
		if n := e.int(t, "iteration"); n < 1 {
			t.Fatalf("iteration %d", n)
		}
	case "var_assign":
		if _, ok := e.m["variable"].(string); !ok {
			t.Fatalf("variable not a string in %s", e.raw)
		}
	}
}

// checkReferences: every parent_span_id and every span_id of a
// loop_iter/var_assign names a func_entry in the file; every func_exit has
// exactly one func_entry with the same id, and vice versa.
func checkReferences(t *testing.T, evs []event) {
	t.Helper()
	entries := map[string]event{}
	exits := map[string]int{}
	for _, e := range evs {
		switch e.str("kind") {
		case "func_entry":
			id := e.str("span_id")
			if _, dup := entries[id]; dup {
				t.Fatalf("span id %s entered twice", id)
			}
			entries[id] = e
		case "func_exit":
			exits[e.str("span_id")]++
		}
	}
	for _, e := range evs {
		if p, ok := e.m["parent_span_id"].(string); ok {
			if _, ok := entries[p]; !ok {
				t.Fatalf("parent %s has no func_entry: %s", p, e.raw)
			}
		}
		if k := e.str("kind"); k == "loop_iter" || k == "var_assign" {
			if s, ok := e.m["span_id"].(string); ok {
				if _, ok := entries[s]; !ok {
					t.Fatalf("span %s has no func_entry: %s", s, e.raw)
				}
			}
		}
	}
	for id, e := range entries {
		if exits[id] != 1 {
			t.Fatalf("span %s has %d exits (entry %s)", id, exits[id], e.raw)
		}
		if x := exits[id]; x == 1 {
			delete(exits, id)
		}
	}
	if len(exits) != 0 {
		t.Fatalf("func_exit without func_entry: %v", exits)
	}
}

func byKind(evs []event, kind string) []event {
	var out []event
	for _, e := range evs {
		if e.str("kind") == kind {
			out = append(out, e)
		}
	}
	return out
}

func stacksLen() int {
	rt := testCore()
	if rt == nil {
		return 0
	}
	rt.stacksMu.Lock()
	defer rt.stacksMu.Unlock()
	return len(rt.stacks)
}

// ------------------------------------------------- instrumented fixtures

// sum is instrumented the way teleforge instruments code.
func sum(xs []int) (total int) {
	defer func(s *teleforgeSpan) { Tel.FuncExit(s, total) }(Tel.FuncEntry("main.sum", "main.go", 12, "xs", xs))
	for _, x := range xs {
		Tel.LoopIter("main.sum", "main.go", 13)
		total += x
		Tel.VarAssign("main.sum", "main.go", 14, "total", total)
	}
	return total
}

func sumPlain(xs []int) (total int) {
	for _, x := range xs {
		total += x
	}
	return total
}

func inner(n int) (r int) {
	defer func(s *teleforgeSpan) { Tel.FuncExit(s, r) }(Tel.FuncEntry("main.inner", "main.go", 30, "n", n))
	r = n * 2
	return r
}

func outer(n int) (r int, err error) {
	defer func(s *teleforgeSpan) { Tel.FuncExit(s, r, err) }(Tel.FuncEntry("main.outer", "main.go", 20, "n", n))
	Tel.LoopIter("main.outer", "main.go", 21)
	r = inner(n) + inner(n+1)
	Tel.VarAssign("main.outer", "main.go", 22, "r", r)
	return r, nil
}

func panicky() (r int) {
	defer func(s *teleforgeSpan) { Tel.FuncExit(s, r) }(Tel.FuncEntry("main.panicky", "main.go", 40))
	r = 7
	panic("boom")
}

// ------------------------------------------------------------------ tests

func TestDisabledWritesNothing(t *testing.T) {
	dir := t.TempDir()
	for _, unset := range []bool{false, true} {
		resetTel(t, "", "")
		if unset {
			os.Unsetenv("TELEMETRY_FILE")
		}
		if s := Tel.FuncEntry("main.f", "main.go", 1, "a", 1); s != nil {
			t.Fatalf("FuncEntry returned a span while disabled")
		}
		if got := atomic.LoadUint32(&teleforgeMode); got != teleforgeModeOff {
			t.Fatalf("mode = %d after first call, want off", got)
		}
		if got := sum([]int{1, 2, 3}); got != 6 {
			t.Fatalf("sum = %d", got)
		}
		Tel.LoopIter("main.f", "main.go", 2)
		Tel.VarAssign("main.f", "main.go", 3, "x", 1)
		Tel.FuncExit(nil, 1, 2)
		if teleforgeRT != nil {
			t.Fatalf("runtime state created while disabled")
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("files created: %v", ents)
	}
}

func TestConfigReadLazilyOnFirstCall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "late.jsonl")
	resetTel(t, "", "")
	// The environment is read on the first call, not at package init.
	os.Setenv("TELEMETRY_FILE", path)
	Tel.LoopIter("main.f", "main.go", 1)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("file not created on first call: %v", err)
	}
	// ... and only once.
	os.Setenv("TELEMETRY_FILE", "")
	Tel.LoopIter("main.f", "main.go", 1)
	if n := len(readEvents(t, path)); n != 2 {
		t.Fatalf("got %d events, want 2", n)
	}
}

func TestDisabledAllocatesNothing(t *testing.T) {
	resetTel(t, "", "")
	Tel.LoopIter("warm", "up.go", 1) // first call reads the configuration
	xs := []int{1, 2, 3}
	big := 1 << 40
	str := strings.Repeat("x", 10)
	type pair struct{ a, b int }
	p := pair{big, big}
	var total int
	allocs := testing.AllocsPerRun(1000, func() {
		big++
		s := Tel.FuncEntry("main.f", "main.go", 1, "xs", xs, "big", big, "str", str, "p", p)
		Tel.LoopIter("main.f", "main.go", 2)
		Tel.VarAssign("main.f", "main.go", 3, "big", big)
		Tel.VarAssign("main.f", "main.go", 4, "p", p)
		Tel.FuncExit(s, big, str, p)
		total += sum(xs)
	})
	if allocs != 0 {
		t.Fatalf("disabled calls allocate %.1f times per run, want 0", allocs)
	}
}

func TestEventShape(t *testing.T) {
	path := enable(t, "")
	if got := sum([]int{4, 5}); got != 9 {
		t.Fatalf("sum = %d", got)
	}
	evs := readEvents(t, path)
	kinds := []string{}
	for _, e := range evs {
		checkShape(t, e)
		kinds = append(kinds, e.str("kind"))
	}
	want := []string{"func_entry", "loop_iter", "var_assign", "loop_iter", "var_assign", "func_exit"}
	if !reflect.DeepEqual(kinds, want) {
		t.Fatalf("kinds = %v, want %v", kinds, want)
	}
	entry, exit := evs[0], evs[5]
	if entry.str("span_id") != exit.str("span_id") {
		t.Fatalf("entry and exit span ids differ")
	}
	for _, e := range evs {
		if e.str("span_id") != entry.str("span_id") {
			t.Fatalf("event not in the function's span: %s", e.raw)
		}
		if e.m["parent_span_id"] != nil {
			t.Fatalf("top-level call has a parent: %s", e.raw)
		}
		if e.str("thread") != entry.str("thread") {
			t.Fatalf("thread changed within one goroutine")
		}
		if e.str("code.function.name") != "main.sum" || e.str("code.file.path") != "main.go" {
			t.Fatalf("name/file not as passed: %s", e.raw)
		}
	}
	if l := entry.int(t, "code.line.number"); l != 12 {
		t.Fatalf("entry line %d", l)
	}
	if l := exit.int(t, "code.line.number"); l != 12 {
		t.Fatalf("exit line %d", l)
	}
	if got := entry.m["args"].(map[string]any)["xs"]; got != "<[]int len=2>" {
		t.Fatalf("args.xs = %v", got)
	}
	if got := fmt.Sprint(exit.m["results"]); got != "[9]" {
		t.Fatalf("results = %v", got)
	}
	if it := evs[3].int(t, "iteration"); it != 2 {
		t.Fatalf("second iteration = %d", it)
	}
	if evs[4].str("variable") != "total" || fmt.Sprint(evs[4].m["value"]) != "9" {
		t.Fatalf("var_assign = %s", evs[4].raw)
	}
	if evs[2].int(t, "code.line.number") != 14 {
		t.Fatalf("var_assign line: %s", evs[2].raw)
	}
	checkReferences(t, evs)
	if n := stacksLen(); n != 0 {
		t.Fatalf("%d goroutine stacks left", n)
	}
}

func TestNoSpanOutsideCalls(t *testing.T) {
	path := enable(t, "")
	Tel.LoopIter("main.init", "main.go", 3)
	Tel.VarAssign("main.init", "main.go", 4, "x", nil)
	evs := readEvents(t, path)
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	for _, e := range evs {
		checkShape(t, e)
		if e.m["span_id"] != nil || e.m["parent_span_id"] != nil {
			t.Fatalf("span outside any call: %s", e.raw)
		}
	}
	if evs[1].m["value"] != nil {
		t.Fatalf("nil value: %s", evs[1].raw)
	}
}

func TestArgsAndResults(t *testing.T) {
	path := enable(t, "")
	s := Tel.FuncEntry("main.f", "main.go", 1, "a", 1, "b", "two", "c", nil, 7, true, "odd")
	Tel.FuncExit(s)
	s = Tel.FuncEntry("main.g", "main.go", 2)
	Tel.FuncExit(s, 1.5, "x", nil, []string{"a"})
	Tel.FuncExit(s, "again") // a second exit of the same span is ignored
	evs := readEvents(t, path)
	if len(evs) != 4 {
		t.Fatalf("%d events: %v", len(evs), evs)
	}
	for _, e := range evs {
		checkShape(t, e)
	}
	wantArgs := `{"a":1,"b":"two","c":null,"arg3":true,"odd":null}`
	if !strings.Contains(evs[0].raw, `"args":`+wantArgs+`}`) {
		t.Fatalf("args rendered as %s, want %s", evs[0].raw, wantArgs)
	}
	if !strings.HasSuffix(evs[1].raw, `"results":[]}`) {
		t.Fatalf("empty results: %s", evs[1].raw)
	}
	if !strings.HasSuffix(evs[2].raw, `"args":{}}`) {
		t.Fatalf("empty args: %s", evs[2].raw)
	}
	if !strings.HasSuffix(evs[3].raw, `"results":[1.5,"x",null,"<[]string len=1>"]}`) {
		t.Fatalf("results: %s", evs[3].raw)
	}
	checkReferences(t, evs)
}

func TestNestedParents(t *testing.T) {
	path := enable(t, "")
	if r, _ := outer(3); r != 14 {
		t.Fatalf("outer = %d", r)
	}
	evs := readEvents(t, path)
	for _, e := range evs {
		checkShape(t, e)
	}
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.str("kind")+":"+e.str("code.function.name"))
	}
	want := []string{
		"func_entry:main.outer", "loop_iter:main.outer",
		"func_entry:main.inner", "func_exit:main.inner",
		"func_entry:main.inner", "func_exit:main.inner",
		"var_assign:main.outer", "func_exit:main.outer",
	}
	if !reflect.DeepEqual(kinds, want) {
		t.Fatalf("events = %v", kinds)
	}
	outerID := evs[0].str("span_id")
	if evs[0].m["parent_span_id"] != nil {
		t.Fatalf("outer has a parent")
	}
	for _, i := range []int{2, 3, 4, 5} {
		if evs[i].str("parent_span_id") != outerID {
			t.Fatalf("inner's parent = %v, want %s", evs[i].m["parent_span_id"], outerID)
		}
	}
	if evs[2].str("span_id") == evs[4].str("span_id") || evs[2].str("span_id") == outerID {
		t.Fatalf("span ids not distinct")
	}
	if evs[2].str("span_id") != evs[3].str("span_id") || evs[4].str("span_id") != evs[5].str("span_id") {
		t.Fatalf("inner entry/exit ids differ")
	}
	// After the inner calls returned, outer's events carry outer's span again.
	for _, i := range []int{1, 6, 7} {
		if evs[i].str("span_id") != outerID || evs[i].m["parent_span_id"] != nil {
			t.Fatalf("event %d: %s", i, evs[i].raw)
		}
	}
	if !strings.HasSuffix(evs[7].raw, `"results":[14,null]}`) {
		t.Fatalf("outer results: %s", evs[7].raw)
	}
	checkReferences(t, evs)
}

func deep(n int) (r int) {
	defer func(s *teleforgeSpan) { Tel.FuncExit(s, r) }(Tel.FuncEntry("main.deep", "main.go", 60, "n", n))
	if n > 0 {
		r = deep(n-1) + 1
	}
	Tel.VarAssign("main.deep", "main.go", 63, "r", r)
	return r
}

func TestDeepNesting(t *testing.T) {
	path := enable(t, "")
	deep(5)
	evs := readEvents(t, path)
	entries := byKind(evs, "func_entry")
	if len(entries) != 6 || len(evs) != 18 {
		t.Fatalf("%d entries, %d events", len(entries), len(evs))
	}
	for i, e := range entries {
		checkShape(t, e)
		want := any(nil)
		if i > 0 {
			want = entries[i-1].str("span_id")
		}
		if e.m["parent_span_id"] != want {
			t.Fatalf("depth %d: parent %v, want %v", i, e.m["parent_span_id"], want)
		}
	}
	// Each var_assign carries the innermost open span: the deepest first.
	vars := byKind(evs, "var_assign")
	for i, v := range vars {
		e := entries[len(entries)-1-i]
		if v.str("span_id") != e.str("span_id") || v.m["parent_span_id"] != e.m["parent_span_id"] {
			t.Fatalf("var_assign %d: %s, want span of %s", i, v.raw, e.raw)
		}
	}
	checkReferences(t, evs)
}

func TestPanicStillExitsWithoutError(t *testing.T) {
	path := enable(t, "")
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("user panic changed: %v", r)
			}
		}()
		panicky()
	}()
	Tel.LoopIter("main.after", "main.go", 50)
	evs := readEvents(t, path)
	if len(evs) != 3 {
		t.Fatalf("%d events", len(evs))
	}
	for _, e := range evs {
		checkShape(t, e) // also proves there is no "error" key
	}
	if !strings.HasSuffix(evs[1].raw, `"results":[7]}`) {
		t.Fatalf("exit: %s", evs[1].raw)
	}
	if evs[2].m["span_id"] != nil {
		t.Fatalf("span left open after panic: %s", evs[2].raw)
	}
	if n := stacksLen(); n != 0 {
		t.Fatalf("%d stacks left", n)
	}
}

func TestGoroutinesHaveOwnThreadsAndParents(t *testing.T) {
	path := enable(t, "")
	outerSpan := Tel.FuncEntry("main.main", "main.go", 1)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			outer(i)
		}(i)
	}
	wg.Wait()
	Tel.FuncExit(outerSpan)
	evs := readEvents(t, path)
	if len(evs) != 2+4*8 {
		t.Fatalf("%d events", len(evs))
	}
	mainThread := evs[0].str("thread")
	threads := map[string][]event{}
	for _, e := range evs {
		checkShape(t, e)
		threads[e.str("thread")] = append(threads[e.str("thread")], e)
	}
	if len(threads) != 5 {
		t.Fatalf("%d distinct threads, want 5", len(threads))
	}
	for th, es := range threads {
		if th == mainThread {
			if len(es) != 2 {
				t.Fatalf("main goroutine has %d events", len(es))
			}
			continue
		}
		// The goroutine's top-level call has no parent (the spawning
		// goroutine's open span is not its caller); its inner calls have
		// the goroutine's own outer span.
		root := es[0]
		if root.str("code.function.name") != "main.outer" || root.m["parent_span_id"] != nil {
			t.Fatalf("goroutine root: %s", root.raw)
		}
		for _, e := range es {
			if e.str("code.function.name") == "main.inner" && e.str("parent_span_id") != root.str("span_id") {
				t.Fatalf("inner parent %v, want %s", e.m["parent_span_id"], root.str("span_id"))
			}
		}
	}
	checkReferences(t, evs)
	if n := stacksLen(); n != 0 {
		t.Fatalf("%d stacks left after all goroutines returned", n)
	}
}

func TestConcurrentWrites(t *testing.T) {
	path := enable(t, "1000000")
	const goroutines, perG = 50, 200
	payload := strings.Repeat("p", 180)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			<-start
			for i := 0; i < perG/4; i++ {
				s := Tel.FuncEntry("main.work", "work.go", 10, "g", g, "i", i)
				Tel.LoopIter("main.work", "work.go", 11)
				Tel.VarAssign("main.work", "work.go", 12, "v", fmt.Sprintf("%d/%d/%s", g, i, payload))
				Tel.FuncExit(s, g, i)
			}
		}(g)
	}
	close(start)
	wg.Wait()
	evs := readEvents(t, path)
	if len(evs) != goroutines*perG {
		t.Fatalf("%d events, want %d", len(evs), goroutines*perG)
	}
	seen := map[string]bool{}
	threads := map[string]bool{}
	iterations := map[int64]bool{}
	for _, e := range evs {
		checkShape(t, e)
		threads[e.str("thread")] = true
		switch e.str("kind") {
		case "var_assign":
			v := e.str("value")
			if seen[v] || !strings.HasSuffix(v, payload) {
				t.Fatalf("value %q duplicated or damaged", v)
			}
			seen[v] = true
		case "loop_iter":
			iterations[e.int(t, "iteration")] = true
		}
	}
	if len(seen) != goroutines*perG/4 || len(threads) != goroutines {
		t.Fatalf("%d values, %d threads", len(seen), len(threads))
	}
	if len(iterations) != goroutines*perG/4 || !iterations[1] || !iterations[goroutines*perG/4] {
		t.Fatalf("loop counter not exact: %d distinct iterations", len(iterations))
	}
	// Each goroutine's loop/var events carry that goroutine's open span.
	open := map[string]string{}
	for _, e := range evs {
		th := e.str("thread")
		switch e.str("kind") {
		case "func_entry":
			open[th] = e.str("span_id")
		case "func_exit":
			if open[th] != e.str("span_id") {
				t.Fatalf("exit of %s while %s open on %s", e.str("span_id"), open[th], th)
			}
			delete(open, th)
		default:
			if e.str("span_id") != open[th] {
				t.Fatalf("event on %s has span %v, open span %s", th, e.m["span_id"], open[th])
			}
		}
	}
	checkReferences(t, evs)
	if n := stacksLen(); n != 0 {
		t.Fatalf("%d stacks left", n)
	}
}

// helper process for the multi-process tests (re-executed test binary).
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("TELEFORGE_TEST_HELPER")
	if mode == "" {
		t.Skip("helper process only")
	}
	switch mode {
	case "write":
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < 250; i++ {
					Tel.VarAssign("main.p", "p.go", 1, "v", fmt.Sprintf("%d/%d/%d/%s", os.Getpid(), g, i, strings.Repeat("q", 300)))
				}
			}(g)
		}
		wg.Wait()
	case "return", "exit-outside", "exit-inside", "panic", "kill", "goexit":
		helperExits(mode)
	case "disabled":
		if s := Tel.FuncEntry("main.p", "p.go", 1, "a", 1); s != nil {
			os.Exit(3)
		}
		Tel.LoopIter("main.p", "p.go", 2)
	}
}

func helperCmd(t *testing.T, mode string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TELEMETRY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "TELEFORGE_TEST_HELPER="+mode)
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

func TestSeveralProcessesAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.jsonl")
	const procs = 4
	var cmds []*exec.Cmd
	for p := 0; p < procs; p++ {
		cmd := helperCmd(t, "write", "TELEMETRY_FILE="+path, "TELEMETRY_SAMPLE_FIRST=100000")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper: %v", err)
		}
	}
	evs := readEvents(t, path)
	if len(evs) != procs*4*250 {
		t.Fatalf("%d events, want %d", len(evs), procs*4*250)
	}
	pids := map[int64]bool{}
	for _, e := range evs {
		pids[e.int(t, "pid")] = true
		if !strings.HasSuffix(e.str("value"), strings.Repeat("q", 56)+"…") {
			t.Fatalf("value damaged: %s", e.raw)
		}
	}
	if len(pids) != procs {
		t.Fatalf("%d pids", len(pids))
	}
}

func TestUnsetEnvironmentInFreshProcess(t *testing.T) {
	dir := t.TempDir()
	cmd := helperCmd(t, "disabled")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "teleforge") {
		t.Fatalf("runtime printed something: %s", out)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("files created: %v", ents)
	}
}

// expected iterations: 1..first, then the powers of two up to n.
func sampled(first, n uint64) []int64 {
	var out []int64
	for i := uint64(1); i <= n; i++ {
		if i <= first || i&(i-1) == 0 {
			out = append(out, int64(i))
		}
	}
	return out
}

func TestSamplingLoop(t *testing.T) {
	path := enable(t, "")
	for i := 0; i < 100000; i++ {
		Tel.LoopIter("main.hot", "hot.go", 5)
	}
	evs := readEvents(t, path)
	// 100 + powers of two in 101..100000 (128 .. 65536: 10 of them)
	if len(evs) != 110 {
		t.Fatalf("%d loop events, want 110", len(evs))
	}
	var got []int64
	for _, e := range evs {
		checkShape(t, e)
		got = append(got, e.int(t, "iteration"))
	}
	if want := sampled(100, 100000); !reflect.DeepEqual(got, want) {
		t.Fatalf("iterations = %v, want %v", got, want)
	}
}

func TestSamplingPerSiteAndFunctions(t *testing.T) {
	path := enable(t, "")
	for i := 0; i < 1000; i++ {
		inner(i) // site main.go:30
		Tel.LoopIter("main.a", "a.go", 1)
		Tel.LoopIter("main.a", "a.go", 2) // another site: its own counter
		Tel.VarAssign("main.a", "a.go", 1, "x", i)
	}
	evs := readEvents(t, path)
	count := map[string]int{}
	for _, e := range evs {
		checkShape(t, e)
		count[e.str("kind")+"@"+strconv.FormatInt(e.int(t, "code.line.number"), 10)]++
	}
	want := map[string]int{
		"func_entry@30": 103, "func_exit@30": 103, // 1..100, 128, 256, 512
		"loop_iter@1": 103, "loop_iter@2": 103, "var_assign@1": 103,
	}
	if !reflect.DeepEqual(count, want) {
		t.Fatalf("counts = %v, want %v", count, want)
	}
	checkReferences(t, evs)
	var vals []string
	for _, e := range byKind(evs, "var_assign") {
		vals = append(vals, fmt.Sprint(e.m["value"]))
	}
	if vals[100] != "127" || vals[102] != "511" {
		t.Fatalf("sampled assignments are not the 128th and 512th: %v", vals[99:])
	}
}

func TestSampleFirstOverride(t *testing.T) {
	for _, tc := range []struct {
		env   string
		first uint64
	}{{"5", 5}, {"0", 0}, {"bogus", 100}, {"-3", 100}, {"", 100}} {
		path := enable(t, tc.env)
		for i := 0; i < 1000; i++ {
			Tel.LoopIter("main.hot", "hot.go", 5)
		}
		var got []int64
		for _, e := range readEvents(t, path) {
			got = append(got, e.int(t, "iteration"))
		}
		if want := sampled(tc.first, 1000); !reflect.DeepEqual(got, want) {
			t.Fatalf("TELEMETRY_SAMPLE_FIRST=%q: iterations %v, want %v", tc.env, got, want)
		}
	}
}

func TestSampledOutCallsAreNotParents(t *testing.T) {
	path := enable(t, "0") // only occurrences 1, 2, 4, 8, ...
	root := Tel.FuncEntry("main.root", "r.go", 1)
	for o := 0; o < 3; o++ { // outer #1, #2 recorded; #3 not
		so := Tel.FuncEntry("main.outer", "r.go", 2)
		for i := 0; i < 3; i++ { // inner #8 runs inside outer #3
			si := Tel.FuncEntry("main.inner", "r.go", 3)
			Tel.FuncExit(si)
		}
		Tel.FuncExit(so)
	}
	Tel.FuncExit(root)
	evs := readEvents(t, path)
	checkReferences(t, evs)
	var inner8 event
	n := 0
	for _, e := range byKind(evs, "func_entry") {
		if e.str("code.function.name") == "main.inner" {
			n++
			inner8 = e
		}
	}
	if n != 4 { // inner #1, #2, #4, #8
		t.Fatalf("%d inner entries", n)
	}
	if inner8.str("parent_span_id") != evs[0].str("span_id") {
		t.Fatalf("inner under a sampled-out outer should have root as parent: %s", inner8.raw)
	}
}

type tfCart struct {
	Items []string
	Total float64
}

type tfLocked struct {
	mu sync.Mutex
	n  int
}

var tfMethodCalls int32

type tfPanicky struct{ n int }

func (tfPanicky) String() string {
	atomic.AddInt32(&tfMethodCalls, 1)
	panic("String must not be called")
}

func (tfPanicky) Error() string {
	atomic.AddInt32(&tfMethodCalls, 1)
	panic("Error must not be called")
}

func (tfPanicky) MarshalJSON() ([]byte, error) {
	atomic.AddInt32(&tfMethodCalls, 1)
	panic("MarshalJSON must not be called")
}

type tfPtrPanicky struct{}

func (*tfPtrPanicky) String() string {
	atomic.AddInt32(&tfMethodCalls, 1)
	panic("String must not be called")
}

type tfCelsius float64
type tfName string
type tfFlag bool
type tfBig uint64

func (tfCelsius) String() string { atomic.AddInt32(&tfMethodCalls, 1); return "warm" }
func (tfName) String() string    { atomic.AddInt32(&tfMethodCalls, 1); return "name" }

func TestRenderValues(t *testing.T) {
	var nilPtr *tfCart
	var nilErr error
	var nilMap map[string]int
	var nilSlice []int
	var nilFunc func()
	var nilChan chan int
	ch := make(chan int, 4)
	ch <- 1
	ch <- 2
	long := strings.Repeat("é", 300)
	exact := strings.Repeat("a", 256)
	type anon = struct {
		A int `json:"a"`
	}
	cases := []struct {
		v    any
		want string
	}{
		{nil, `null`},
		{nilPtr, `null`},
		{nilErr, `null`},
		{nilMap, `null`},
		{nilSlice, `null`},
		{nilFunc, `null`},
		{nilChan, `null`},
		{true, `true`},
		{tfFlag(false), `false`},
		{0, `0`},
		{-42, `-42`},
		{int8(-128), `-128`},
		{int16(300), `300`},
		{int32(-70000), `-70000`},
		{int64(1 << 53), `9007199254740992`},
		{int64(1<<53 + 1), `"9007199254740993"`},
		{int64(-(1 << 53)), `-9007199254740992`},
		{int64(-(1 << 53) - 1), `"-9007199254740993"`},
		{int64(math.MinInt64), `"-9223372036854775808"`},
		{uint8(255), `255`},
		{uint(7), `7`},
		{uint64(1 << 53), `9007199254740992`},
		{uint64(math.MaxUint64), `"18446744073709551615"`},
		{uintptr(9), `9`},
		{tfBig(1 << 60), `"1152921504606846976"`},
		{time.Duration(1500), `1500`},
		{1.5, `1.5`},
		{-0.25, `-0.25`},
		{float32(0.1), `0.1`},
		{1e21, `1e+21`},
		{1e-7, `1e-7`},
		{100000000.0, `100000000`},
		{math.NaN(), `"NaN"`},
		{math.Inf(1), `"+Inf"`},
		{math.Inf(-1), `"-Inf"`},
		{float32(math.Inf(-1)), `"-Inf"`},
		{tfCelsius(21.5), `21.5`},
		{"", `""`},
		{"hello", `"hello"`},
		{"q\"b\\n\n\r\t\x01\x1f", `"q\"b\\n\n\r\t\u0001\u001f"`},
		{"日本語 ✓", `"日本語 ✓"`},
		{"bad\xffutf8", `"bad\ufffdutf8"`},
		{"ls\u2028ps\u2029", `"ls\u2028ps\u2029"`},
		{"</script>", `"</script>"`},
		{exact, `"` + exact + `"`},
		{exact + "b", `"` + exact + `…"`},
		{long, `"` + strings.Repeat("é", 256) + `…"`},
		{tfName("bob"), `"bob"`},
		{[]int{1, 2, 3}, `"<[]int len=3>"`},
		{[]byte("abcd"), `"<[]uint8 len=4>"`},
		{[2]string{"a", "b"}, `"<[2]string len=2>"`},
		{map[string]int{"a": 1, "b": 2}, `"<map[string]int len=2>"`},
		{ch, `"<chan int len=2>"`},
		{tfCart{Items: []string{"x"}}, `"<teleforgetel.tfCart>"`},
		{&tfCart{}, `"<*teleforgetel.tfCart>"`},
		{&tfLocked{n: 1}, `"<*teleforgetel.tfLocked>"`},
		{tfPanicky{1}, `"<teleforgetel.tfPanicky>"`},
		{&tfPanicky{1}, `"<*teleforgetel.tfPanicky>"`},
		{&tfPtrPanicky{}, `"<*teleforgetel.tfPtrPanicky>"`},
		{error(tfPanicky{2}), `"<teleforgetel.tfPanicky>"`},
		{fmt.Stringer(&tfPtrPanicky{}), `"<*teleforgetel.tfPtrPanicky>"`},
		{fmt.Errorf("x"), `"<*errors.errorString>"`},
		{sum, `"<func([]int) int>"`},
		{struct{}{}, `"<struct {}>"`},
		{anon{1}, `"<struct { A int \"json:\\\"a\\\"\" }>"`},
		{complex(1, 2), `"<complex128>"`},
		{unsafe.Pointer(nil), `null`},
		{[]any{nil}, `"<[]interface {} len=1>"`},
	}
	atomic.StoreInt32(&tfMethodCalls, 0)
	for _, tc := range cases {
		got := string(teleforgeAppendValue(nil, tc.v))
		if got != tc.want {
			t.Errorf("render(%T) = %s, want %s", tc.v, got, tc.want)
			continue
		}
		var decoded any
		if err := json.Unmarshal([]byte(got), &decoded); err != nil {
			t.Errorf("render(%T) = %s is not valid JSON: %v", tc.v, got, err)
		}
	}
	if n := atomic.LoadInt32(&tfMethodCalls); n != 0 {
		t.Fatalf("user methods were called %d times", n)
	}

	// End to end: the same values through a real event.
	path := enable(t, "")
	locked := &tfLocked{}
	s := Tel.FuncEntry("main.v", "v.go", 1, "p", tfPanicky{}, "pp", &tfPtrPanicky{}, "l", locked, "long", long)
	Tel.VarAssign("main.v", "v.go", 2, "e", error(tfPanicky{}))
	Tel.FuncExit(s, tfPanicky{}, locked)
	evs := readEvents(t, path)
	if len(evs) != 3 {
		t.Fatalf("%d events", len(evs))
	}
	for _, e := range evs {
		checkShape(t, e)
	}
	args := evs[0].m["args"].(map[string]any)
	if args["p"] != "<teleforgetel.tfPanicky>" || args["l"] != "<*teleforgetel.tfLocked>" ||
		args["long"] != strings.Repeat("é", 256)+"…" {
		t.Fatalf("args = %v", args)
	}
	if n := atomic.LoadInt32(&tfMethodCalls); n != 0 {
		t.Fatalf("user methods were called %d times", n)
	}
}

func TestSharedCoreIsReused(t *testing.T) {
	first := enable(t, "")
	Tel.LoopIter("main.f", "main.go", 1)
	core := testCore()
	if core == nil {
		t.Fatalf("no core")
	}
	if m, _, err := image.Decode(teleforgeMagicReader{teleforgeCoreMagic}); err != nil || m.(teleforgeCoreImage).teleforgeCore != core {
		t.Fatalf("core not published: %v", err)
	}
	// Another copy of the runtime starting later (simulated: this copy's
	// package state reset, the process-wide registration kept) finds the
	// published core instead of opening the file again.
	second := filepath.Join(t.TempDir(), "second.jsonl")
	teleforgeRT = nil
	teleforgeOnce = sync.Once{}
	atomic.StoreUint32(&teleforgeMode, teleforgeModeUnknown)
	os.Setenv("TELEMETRY_FILE", second)
	Tel.LoopIter("main.f", "main.go", 1)
	if testCore() != core {
		t.Fatalf("second copy made its own core")
	}
	if _, err := os.Stat(second); !os.IsNotExist(err) {
		t.Fatalf("second file opened: %v", err)
	}
	evs := readEvents(t, first)
	if len(evs) != 2 || evs[1].int(t, "iteration") != 2 {
		t.Fatalf("events: %v", evs)
	}
	// Other formats and other magics never see the core.
	if _, _, err := image.Decode(teleforgeMagicReader{"\x00teleforge-other-magic\x00"}); err == nil {
		t.Fatalf("unknown magic decoded")
	}
	if _, _, err := image.Decode(strings.NewReader(teleforgeCoreMagic)); err != nil {
		t.Fatalf("plain reader: %v", err)
	}
}

func TestUnwritablePath(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{
		filepath.Join(dir, "missing", "sub", "events.jsonl"), // parent does not exist
		dir, // a directory
	} {
		resetTel(t, p, "")
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("panic with TELEMETRY_FILE=%s: %v", p, r)
				}
			}()
			if s := Tel.FuncEntry("main.f", "main.go", 1, "a", 1); s != nil {
				t.Fatalf("span returned although the file cannot be opened")
			}
			sum([]int{1, 2})
			Tel.LoopIter("main.f", "main.go", 2)
			Tel.VarAssign("main.f", "main.go", 3, "x", 1)
		}()
		if got := atomic.LoadUint32(&teleforgeMode); got != teleforgeModeOff {
			t.Fatalf("mode = %d, want off", got)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Fatalf("directory created: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("files created: %v", ents)
	}
}

func TestInternalFailuresNeverReachTheCaller(t *testing.T) {
	enable(t, "")
	Tel.LoopIter("main.f", "main.go", 1) // switch on
	rt := testCore()
	// Break the runtime: a nil map makes the next new site panic inside it.
	rt.sitesMu.Lock()
	rt.sites = nil
	rt.sitesMu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("panic reached the caller: %v", r)
		}
	}()
	if s := Tel.FuncEntry("main.f", "main.go", 2, "a", 1); s != nil {
		t.Fatalf("span returned from a failed entry")
	}
	Tel.LoopIter("main.f", "main.go", 3)
	Tel.VarAssign("main.f", "main.go", 4, "x", 1)
	Tel.FuncExit(&teleforgeSpan{}, 1) // span without a runtime: nil dereference inside
	if got := sum([]int{1, 2}); got != 3 {
		t.Fatalf("sum = %d", got)
	}
}

// TestCompilesInAnyPackage copies the runtime into a package main whose other
// files declare common names (and the names of the packages the runtime
// imports), plus a library package that shadows `sync`; it vets, builds and
// runs the result with telemetry on.
func TestCompilesInAnyPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	src, err := os.ReadFile("teleforge_tel.go")
	if err != nil {
		t.Fatal(err)
	}
	rewrite := func(pkg string) []byte {
		return bytes.Replace(src, []byte("\npackage teleforgetel\n"), []byte("\npackage "+pkg+"\n"), 1)
	}
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module collide\n\ngo 1.18\n",
		"names.go": `package main

import "sync"

type span struct{}
type teleforge struct{}
type Span int
type tel int

var mu sync.Mutex
var enabled bool
var once sync.Once
var mode, state, file, pid, sites, stacks, buf, bufs int

func now() int          { return 0 }
func write(b []byte)    {}
func render(v any) any  { return v }
func sample() bool      { return false }
func init()             { enabled = true }
`,
		"shadow.go": `package main

var os, rand, crand, reflect, runtime, strconv, time, atomic, math, utf8, binary int
var strings, bytes, errors, fmt, io, unsafe, unicode, json, bufio, hex int
`,
		"main.go": `package main

import "collide/lib"

func Sum(xs []int) (total int) {
	defer func(s *teleforgeSpan) { Tel.FuncExit(s, total) }(Tel.FuncEntry("main.Sum", "main.go", 12, "xs", xs))
	for _, x := range xs {
		Tel.LoopIter("main.Sum", "main.go", 13)
		total += x
	}
	return total
}

func Run() (r int) {
	defer func(s *teleforgeSpan) { Tel.FuncExit(s, r) }(Tel.FuncEntry("main.Run", "main.go", 20))
	r = Sum([]int{1, 2, 3}) + lib.Twice(2)
	return r
}

func main() {
	_ = span{}
	mu.Lock()
	mu.Unlock()
	_, _, _ = now(), render(1), sample()
	write(nil)
	if Run() != 10 {
		panic("wrong")
	}
}
`,
		"lib/lib.go": `package lib

var sync, os, time int

func Twice(n int) (r int) {
	defer func(s *teleforgeSpan) { Tel.FuncExit(s, r) }(Tel.FuncEntry("lib.Twice", "lib/lib.go", 5, "n", n))
	r = 2 * n
	return r
}
`,
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "teleforge_tel.go"), rewrite("main"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "lib", "teleforge_tel.go"), rewrite("lib"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(goBin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=", "GOTOOLCHAIN=local")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %v: %v\n%s", args, err, out)
		}
	}
	run("vet", "./...")
	run("build", "-o", "app", ".")
	events := filepath.Join(dir, "events.jsonl")
	cmd := exec.Command(filepath.Join(dir, "app"))
	cmd.Env = append(os.Environ(), "TELEMETRY_FILE="+events)
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Fatalf("app: %v, output %q", err, out)
	}
	evs := readEvents(t, events)
	if len(evs) != 9 {
		t.Fatalf("%d events", len(evs))
	}
	for _, e := range evs {
		checkShapePid(t, e, cmd.Process.Pid)
	}
	checkReferences(t, evs)
	var funcs []string
	for _, e := range evs {
		funcs = append(funcs, e.str("kind")+":"+e.str("code.function.name"))
	}
	want := []string{
		"func_entry:main.Run",
		"func_entry:main.Sum", "loop_iter:main.Sum", "loop_iter:main.Sum", "loop_iter:main.Sum",
		"func_exit:main.Sum", "func_entry:lib.Twice", "func_exit:lib.Twice",
		"func_exit:main.Run",
	}
	if !reflect.DeepEqual(funcs, want) {
		t.Fatalf("events = %v", funcs)
	}
	// The two packages' copies of the runtime share one core: main.Run's
	// span is the parent of the call into package lib.
	runID := evs[0].str("span_id")
	if evs[1].str("parent_span_id") != runID || evs[6].str("parent_span_id") != runID {
		t.Fatalf("cross-package parent lost: %s / %s", evs[1].raw, evs[6].raw)
	}
}

// ------------------------------------------------------------- benchmarks

// Telemetry off, after the first call: the cost of an instrumented call's
// FuncEntry/FuncExit pair including the boxing of its arguments at the call site.
func BenchmarkDisabledFuncEntryExit(b *testing.B) {
	resetTel(b, "", "")
	Tel.LoopIter("warm", "up.go", 1)
	xs := []int{1, 2, 3}
	n := 1 << 40
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := Tel.FuncEntry("main.f", "main.go", 1, "xs", xs, "n", n+i)
		Tel.FuncExit(s, n+i)
	}
}

func BenchmarkDisabledLoopIter(b *testing.B) {
	resetTel(b, "", "")
	Tel.LoopIter("warm", "up.go", 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Tel.LoopIter("main.f", "main.go", 2)
	}
}

func BenchmarkDisabledVarAssign(b *testing.B) {
	resetTel(b, "", "")
	Tel.LoopIter("warm", "up.go", 1)
	str := "hello"
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Tel.VarAssign("main.f", "main.go", 3, "s", str[:i%5])
	}
}

var benchSink int

// An instrumented function (the shape teleforge writes) against the plain one.
func BenchmarkSumPlain(b *testing.B) {
	xs := []int{1, 2, 3, 4}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		benchSink += sumPlain(xs)
	}
}

func BenchmarkDisabledSumInstrumented(b *testing.B) {
	resetTel(b, "", "")
	Tel.LoopIter("warm", "up.go", 1)
	xs := []int{1, 2, 3, 4}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		benchSink += sum(xs)
	}
}

var boxSink []any

//go:noinline
func escapingVariadic(name, file string, line int, kv ...any) {
	boxSink = kv
}

// What the variadic call site costs when the callee lets its arguments escape
// (the situation on toolchains before Go 1.21, whose reflect.ValueOf escapes):
// the []any and every non-pointer-shaped boxed value move to the heap.
func BenchmarkBoxingIfEscaping(b *testing.B) {
	xs := []int{1, 2, 3}
	n := 1 << 40
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		escapingVariadic("main.f", "main.go", 1, "xs", xs, "n", n+i)
	}
}

// Telemetry on, every call recorded (one write(2) per event).
func BenchmarkEnabledFuncEntryExitRecorded(b *testing.B) {
	enable(b, "1000000000000")
	xs := []int{1, 2, 3}
	n := 1 << 40
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := Tel.FuncEntry("main.f", "main.go", 1, "xs", xs, "n", n+i)
		Tel.FuncExit(s, n+i)
	}
}

// Telemetry on, hot site past its first 100 occurrences: almost every call is
// sampled out (counted, nothing written).
func BenchmarkEnabledFuncEntryExitSampledOut(b *testing.B) {
	enable(b, "")
	xs := []int{1, 2, 3}
	n := 1 << 40
	for i := 0; i < 1<<16; i++ {
		Tel.FuncExit(Tel.FuncEntry("main.f", "main.go", 1, "xs", xs, "n", n+i), n+i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := Tel.FuncEntry("main.f", "main.go", 1, "xs", xs, "n", n+i)
		Tel.FuncExit(s, n+i)
	}
}

func BenchmarkEnabledLoopIterRecorded(b *testing.B) {
	enable(b, "1000000000000")
	Tel.FuncEntry("main.f", "main.go", 1) // an open span, as inside a function
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Tel.LoopIter("main.f", "main.go", 2)
	}
}

func BenchmarkGoroutineID(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		benchSink += int(teleforgeGoroutineID())
	}
}

// A module whose go.mod has no `go` line is built with Go 1.16 language rules (no `any`, no
// generics); the runtime must compile there too, or every construct of such a module is left out.
func TestCompilesUnderGo116LanguageRules(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	src, err := os.ReadFile("teleforge_tel.go")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string][]byte{
		"go.mod":           []byte("module old\n"),
		"main.go":          []byte("package main\n\nfunc main() { Tel.FuncExit(Tel.FuncEntry(\"main.main\", \"main.go\", 3)) }\n"),
		"teleforge_tel.go": bytes.Replace(src, []byte("\npackage teleforgetel\n"), []byte("\npackage main\n"), 1),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(goBin, "build", "-mod=readonly", "-o", os.DevNull, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOTOOLCHAIN=local", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build under go 1.16 rules: %v\n%s", err, out)
	}
}

// benchAtDepth runs f with about depth plain frames below it.
func benchAtDepth(depth int, f func()) {
	if depth <= 0 {
		f()
		return
	}
	benchAtDepth(depth-1, f)
	benchSink++
}

// Telemetry on, every call recorded, at several stack depths: the cost of an
// event must not grow with the depth of the stack it is recorded on.
func BenchmarkEnabledRecordedAtDepth(b *testing.B) {
	for _, depth := range []int{0, 60, 1000} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			enable(b, "1000000000000")
			xs := []int{1, 2, 3}
			benchAtDepth(depth, func() {
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					s := Tel.FuncEntry("main.f", "main.go", 1, "xs", xs, "i", i)
					Tel.LoopIter("main.f", "main.go", 2)
					Tel.FuncExit(s, i)
				}
				b.StopTimer()
			})
		})
	}
}

// ---------------------------------------------------------------- buffering (no write per event)

// helperWork is an instrumented function with nested calls and loop events.
func helperWork(n int) (r int) {
	defer func(s *teleforgeSpan) { Tel.FuncExit(s, r) }(Tel.FuncEntry("main.work", "w.go", 1, "n", n))
	for i := 0; i < n; i++ {
		Tel.LoopIter("main.work", "w.go", 2)
		r += inner(i)
	}
	return r
}

func helperInside(f func()) {
	defer func(s *teleforgeSpan) { Tel.FuncExit(s) }(Tel.FuncEntry("main.inside", "w.go", 9))
	Tel.VarAssign("main.inside", "w.go", 10, "x", 1)
	f()
}

// helperExits ends the helper process the way mode says, after recording
// 300 calls of main.work (3 events each) in completed calls.
func helperExits(mode string) {
	for i := 0; i < 3; i++ {
		helperWork(50) // 1 entry + 50 loop + 50*2 inner + 1 exit = 152 events
	}
	switch mode {
	case "return": // the test binary returns from main normally
	case "exit-outside":
		os.Exit(3)
	case "exit-inside": // os.Exit inside an open call, 300 ms after its events
		helperInside(func() { time.Sleep(300 * time.Millisecond); os.Exit(4) })
	case "panic": // a panic nobody recovers: deferred FuncExits run while it unwinds
		helperInside(func() { panic("boom") })
	case "goexit":
		done := make(chan bool)
		go func() { defer close(done); helperInside(runtime.Goexit) }()
		<-done
	case "kill": // a hard kill inside an open call, 300 ms after its events
		helperInside(func() {
			time.Sleep(300 * time.Millisecond)
			p, _ := os.FindProcess(os.Getpid())
			_ = p.Kill()
			time.Sleep(10 * time.Second)
		})
	}
}

func TestEventsSurviveEveryExitPath(t *testing.T) {
	for _, tc := range []struct {
		mode   string
		code   int  // exit status; -1: killed
		inside bool // main.inside's entry and var_assign are expected too
	}{
		{"return", 0, false},
		{"exit-outside", 3, false},
		{"exit-inside", 4, true},
		{"panic", 2, true},
		{"goexit", 0, true},
		{"kill", -1, true},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.jsonl")
			cmd := helperCmd(t, tc.mode, "TELEMETRY_FILE="+path, "TELEMETRY_SAMPLE_FIRST=1000000")
			out, err := cmd.CombinedOutput()
			code := cmd.ProcessState.ExitCode()
			if code != tc.code {
				t.Fatalf("exit code %d (%v), want %d\n%s", code, err, tc.code, out)
			}
			evs := readEvents(t, path)
			works := 0
			inside := 0
			for _, e := range evs {
				checkShapePid(t, e, cmd.ProcessState.Pid())
				switch e.str("code.function.name") {
				case "main.work", "main.inner":
					works++
				case "main.inside":
					inside++
				}
			}
			if works != 3*152 {
				t.Fatalf("%d events of completed calls, want %d", works, 3*152)
			}
			if tc.inside && inside < 2 {
				t.Fatalf("main.inside: %d events, want its entry and var_assign", inside)
			}
			if tc.mode != "exit-inside" && tc.mode != "kill" { // those never return from main.inside
				checkReferences(t, evs)
			}
		})
	}
}

// writeSyscalls reads this process's count of write system calls (Linux).
func writeSyscalls(t *testing.T) int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skipf("no /proc/self/io: %v", err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "syscw:") {
			n, _ := strconv.ParseInt(strings.TrimSpace(l[len("syscw:"):]), 10, 64)
			return n
		}
	}
	t.Skip("no syscw in /proc/self/io")
	return 0
}

func TestNoWritePerEventInsideCalls(t *testing.T) {
	path := enable(t, "1000000000")
	Tel.LoopIter("main.f", "main.go", 1) // configures; outside any call: written at once
	before := writeSyscalls(t)
	span := Tel.FuncEntry("main.f", "main.go", 2)
	for i := 0; i < 20000; i++ {
		Tel.VarAssign("main.f", "main.go", 3, "i", i)
	}
	Tel.FuncExit(span)
	writes := writeSyscalls(t) - before
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// one write per 64 KiB (plus timer flushes if the machine is slow), never one per event
	if max := info.Size()/teleforgeFlushSize + 40; writes > max {
		t.Fatalf("%d write(2) calls for 20,002 events (%d bytes), want at most %d", writes, info.Size(), max)
	}
	if n := len(readEvents(t, path)); n != 20003 {
		t.Fatalf("%d events", n)
	}
}

func TestNoDescriptorHeldAndUserFilesUntouched(t *testing.T) {
	path := enable(t, "1000000000")
	dir := t.TempDir()
	span := Tel.FuncEntry("main.f", "main.go", 1)
	var mine []*os.File
	for i := 0; i < 4; i++ {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("mine%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		mine = append(mine, f)
		Tel.VarAssign("main.f", "main.go", 2, "i", i)
	}
	time.Sleep(3 * teleforgeFlushDelay) // timed flushes while the user's files are open
	if data, _ := os.ReadFile(path); bytes.Count(data, []byte("\n")) != 5 {
		t.Fatalf("the timer did not write the open call's events: %q", data)
	}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		for _, e := range ents {
			if target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); target == path {
				t.Fatalf("descriptor %s held on the events file", e.Name())
			}
		}
	}
	Tel.FuncExit(span)
	for _, f := range mine {
		info, _ := f.Stat()
		if info.Size() != 0 {
			t.Fatalf("%s got %d bytes", f.Name(), info.Size())
		}
		f.Close()
	}
	if n := len(readEvents(t, path)); n != 6 {
		t.Fatalf("%d events", n)
	}
}

func deepCall(n int, f func()) {
	if n == 0 {
		f()
		return
	}
	deepCall(n-1, f)
	benchSink++
}

func TestDeepStacksAreBoundedAndNeverMisattributed(t *testing.T) {
	path := enable(t, "")
	outerSpan := Tel.FuncEntry("main.outer", "main.go", 1)
	deepCall(2*teleforgeMaxIDDepth, func() {
		s := Tel.FuncEntry("main.deep", "main.go", 2)
		Tel.LoopIter("main.deep", "main.go", 3)
		Tel.FuncExit(s)
	})
	Tel.LoopIter("main.outer", "main.go", 4)
	Tel.FuncExit(outerSpan)
	evs := readEvents(t, path)
	if len(evs) != 6 {
		t.Fatalf("%d events", len(evs))
	}
	for _, e := range evs {
		checkShape(t, e)
		deep := e.str("code.function.name") == "main.deep"
		if deep != (e.str("thread") == "goroutine-0") {
			t.Fatalf("thread: %s", e.raw)
		}
		if deep && e.m["parent_span_id"] != nil {
			t.Fatalf("a deep event names a parent it cannot know: %s", e.raw)
		}
	}
	// the shallow loop event still belongs to main.outer
	if evs[4].str("span_id") != evs[0].str("span_id") {
		t.Fatalf("after the deep call: %s", evs[4].raw)
	}
	if evs[2].m["span_id"] != nil {
		t.Fatalf("deep loop_iter claims a span: %s", evs[2].raw)
	}
}

// Two goroutines on one P take turns where the scheduler lets them: the
// worker runs its instrumented callbacks until it blocks, and the main
// goroutine then looks how far it got. Telemetry must not add a point where
// the worker gives the P away (a write(2) per event could).
func interleaving(t *testing.T) []int {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var seen []int
	for rep := 0; rep < 20; rep++ {
		var done []int
		release := make(chan bool)
		finished := make(chan bool)
		go func() {
			helperInside(func() {
				for i := 0; i < 100; i++ {
					Tel.LoopIter("main.worker", "w.go", 20)
					done = append(done, inner(i))
				}
			})
			close(finished)
			<-release
		}()
		runtime.Gosched() // the worker runs until it blocks on release
		seen = append(seen, len(done))
		close(release)
		<-finished
	}
	return seen
}

func TestGoroutineInterleavingSameWithTelemetryOnAndOff(t *testing.T) {
	resetTel(t, "", "")
	off := interleaving(t)
	enable(t, "1000000000")
	on := interleaving(t)
	count := func(xs []int) (n int) {
		for _, x := range xs {
			if x == 100 {
				n++
			}
		}
		return n
	}
	if count(off) < 17 {
		t.Fatalf("without telemetry the worker did not finish before main looked: %v", off)
	}
	if count(on) < 17 {
		t.Fatalf("telemetry changed the interleaving: on %v, off %v", on, off)
	}
}

// Many sites, including file names the table's hash cannot tell apart (same
// length, same first, middle and fourth-from-last bytes) and the same line in
// several kinds: every site keeps its own exact counter through the table's
// growth, executions interleaved.
func TestSiteTableManySitesAndCollisions(t *testing.T) {
	path := enable(t, "3")
	files := []string{"a1b2c.go", "a9b2c.go", "a7b2c.go", "x.go", "", "go", "dir/sub/file_with_long_name.go"}
	if teleforgeSiteHash(teleforgeKindLoop, files[0], 7) != teleforgeSiteHash(teleforgeKindLoop, files[1], 7) {
		t.Fatalf("the test's colliding names no longer collide")
	}
	const lines = 150 // 7 files x 150 lines x 2 kinds: the table grows several times
	const rounds = 9  // occurrences 1, 2, 3, 4, 8 are recorded
	for r := 0; r < rounds; r++ {
		for _, f := range files {
			for l := 1; l <= lines; l++ {
				Tel.LoopIter("main.f", f, l)
				Tel.VarAssign("main.f", f, l, "v", r)
			}
		}
	}
	tb := teleforgeSiteCache.Load().(*teleforgeSiteTable)
	if tb.used != 2*len(files)*lines || len(tb.slots) < 4*len(files)*lines {
		t.Fatalf("table: %d used of %d slots", tb.used, len(tb.slots))
	}
	count := map[string][]int64{}
	for _, e := range readEvents(t, path) {
		k := e.str("kind") + "@" + e.str("code.file.path") + ":" + strconv.FormatInt(e.int(t, "code.line.number"), 10)
		if e.str("kind") == "loop_iter" {
			count[k] = append(count[k], e.int(t, "iteration"))
		} else {
			v, _ := e.m["value"].(json.Number).Int64()
			count[k] = append(count[k], v+1)
		}
	}
	if len(count) != 2*len(files)*lines {
		t.Fatalf("%d sites have events, want %d", len(count), 2*len(files)*lines)
	}
	for k, got := range count {
		if want := sampled(3, rounds); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: occurrences %v, want %v", k, got, want)
		}
	}
}

// Goroutines hitting new sites at the same time (run with -race too): every
// occurrence is counted exactly once, so exactly the powers of two are
// recorded, once each.
func TestSiteCountersExactUnderConcurrency(t *testing.T) {
	path := enable(t, "0")
	const goroutines, per, sites = 8, 1000, 50
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				for s := 1; s <= sites; s++ {
					Tel.LoopIter("main.f", "conc.go", s)
				}
			}
		}()
	}
	wg.Wait()
	got := map[int64][]int64{}
	for _, e := range readEvents(t, path) {
		l := e.int(t, "code.line.number")
		got[l] = append(got[l], e.int(t, "iteration"))
	}
	for s := int64(1); s <= sites; s++ {
		its := got[s]
		sort.Slice(its, func(i, j int) bool { return its[i] < its[j] })
		if want := sampled(0, goroutines*per); !reflect.DeepEqual(its, want) {
			t.Fatalf("site %d: iterations %v, want %v", s, its, want)
		}
	}
}

// tfOldCore is a shared core as a copy of an older runtime publishes it: the
// protocol's interface only, without teleforgeCoreCounters.
type tfOldCore struct {
	c       *teleforgeCore
	samples int64
}

func (o *tfOldCore) TeleforgeCoreV2() {}
func (o *tfOldCore) Sample(kind uint8, file string, line int) (uint64, bool) {
	atomic.AddInt64(&o.samples, 1)
	return o.c.Sample(kind, file, line)
}
func (o *tfOldCore) NewID() uint64                               { return o.c.NewID() }
func (o *tfOldCore) Push(gid, id uint64) (uint64, bool)          { return o.c.Push(gid, id) }
func (o *tfOldCore) Pop(gid, id uint64) bool                     { return o.c.Pop(gid, id) }
func (o *tfOldCore) Top(gid uint64) (uint64, uint64, bool, bool) { return o.c.Top(gid) }
func (o *tfOldCore) Write(b []byte, flush bool)                  { o.c.Write(b, flush) }
func (o *tfOldCore) Pid() int                                    { return o.c.Pid() }

type tfOldCoreImage struct {
	image.Image
	*tfOldCore
}

// Copies of several runtime versions in one process share one core's
// counters: a copy of an older runtime calls Sample on our core (the same
// counters as our table), and our copy, finding an older core without
// counters, falls back to its Sample for every occurrence.
func TestSiteCountersSharedWithOlderCopies(t *testing.T) {
	// An older copy counting on our core.
	path := enable(t, "2")
	Tel.LoopIter("main.f", "old.go", 1) // occurrence 1, through this copy's table
	c := testCore()
	if n, rec := c.Sample(teleforgeKindLoop, "old.go", 1); n != 2 || !rec { // an older copy
		t.Fatalf("older copy's Sample: %d %v", n, rec)
	}
	if n, rec := c.Sample(teleforgeKindLoop, "old.go", 1); n != 3 || rec {
		t.Fatalf("older copy's Sample: %d %v", n, rec)
	}
	Tel.LoopIter("main.f", "old.go", 1) // 4: recorded
	var got []int64
	for _, e := range readEvents(t, path) {
		got = append(got, e.int(t, "iteration"))
	}
	if !reflect.DeepEqual(got, []int64{1, 4}) {
		t.Fatalf("iterations %v, want [1 4]", got)
	}

	// This copy finding an older core.
	path = enable(t, "2")
	older := &tfOldCore{c: teleforgeNewCore(path, "")}
	image.RegisterFormat(teleforgeCoreFormat, teleforgeCoreMagic,
		func(io.Reader) (image.Image, error) { return tfOldCoreImage{nil, older}, nil },
		func(io.Reader) (image.Config, error) { return image.Config{}, image.ErrFormat })
	for i := 0; i < 10; i++ {
		Tel.LoopIter("main.f", "old.go", 1)
	}
	if n, _ := older.c.Sample(teleforgeKindLoop, "old.go", 1); n != 11 {
		t.Fatalf("the older core counted %d, want 11", n)
	}
	if s := atomic.LoadInt64(&older.samples); s != 10 {
		t.Fatalf("%d calls of the older core's Sample, want 10", s)
	}
	got = nil
	for _, e := range readEvents(t, path) {
		got = append(got, e.int(t, "iteration"))
	}
	if want := sampled(2, 10); !reflect.DeepEqual(got, want) {
		t.Fatalf("iterations %v, want %v", got, want)
	}
}

// A sampled-out execution allocates nothing and takes no lock.
func TestSampledOutAllocatesNothing(t *testing.T) {
	enable(t, "0")
	xs := []int{1, 2, 3}
	for i := 0; i < 100; i++ {
		Tel.FuncExit(Tel.FuncEntry("main.f", "main.go", 1, "xs", xs), i)
		Tel.LoopIter("main.f", "main.go", 2)
		Tel.VarAssign("main.f", "main.go", 3, "i", 1)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		// 101..1100: occurrence 128, 256, 512 and 1024 are recorded, the rest not
		Tel.FuncExit(Tel.FuncEntry("main.f", "main.go", 1, "xs", xs), 1)
		Tel.LoopIter("main.f", "main.go", 2)
		Tel.VarAssign("main.f", "main.go", 3, "i", 1)
	})
	if allocs > 0.2 {
		t.Fatalf("%.2f allocations per sampled-out execution", allocs)
	}
	// With this copy's table lock and the core's site lock held elsewhere,
	// executions of known sites still count.
	teleforgeSiteMu.Lock()
	testCore().sitesMu.Lock()
	done := make(chan uint64)
	go func() {
		n, _ := teleforgeSample(teleforgeKindLoop, "main.go", 2)
		Tel.FuncExit(Tel.FuncEntry("main.f", "main.go", 1, "xs", xs), 1)
		Tel.VarAssign("main.f", "main.go", 3, "i", 1)
		done <- n
	}()
	select {
	case n := <-done:
		if n != 1102 {
			t.Errorf("occurrence %d, want 1102", n)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("a sampled-out execution waits for a lock")
	}
	testCore().sitesMu.Unlock()
	teleforgeSiteMu.Unlock()
}

// The table's hash spreads a big package's sites (names of one length that
// differ in one byte, consecutive lines, three kinds per line): few probes.
func TestSiteHashSpreadsSites(t *testing.T) {
	tb := teleforgeNewSiteTable(nil, 0, 1<<16)
	var sites []*teleforgeSite
	for f := 0; f < 20; f++ {
		for l := 1; l <= 300; l++ {
			for k := uint8(0); k < 3; k++ {
				s := &teleforgeSite{kind: k, file: fmt.Sprintf("file%c.go", 'a'+f), line: l}
				tb.insert(s)
				sites = append(sites, s)
			}
		}
	}
	probes := 0
	for _, s := range sites {
		for i := teleforgeSiteHash(s.kind, s.file, s.line); ; i++ {
			probes++
			if tb.slots[i&tb.mask].Load() == s {
				break
			}
		}
	}
	if avg := float64(probes) / float64(len(sites)); avg > 2 {
		t.Fatalf("%.2f probes per site on average", avg)
	}
}
