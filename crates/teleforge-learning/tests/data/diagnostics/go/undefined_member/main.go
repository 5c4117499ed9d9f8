package main

type Telemetry struct{}

func (t *Telemetry) FuncEntry(name string) {}

var Tel = &Telemetry{}

func main() {
	Tel.FuncEntry("main")
	defer Tel.FuncExitt("main")
}
