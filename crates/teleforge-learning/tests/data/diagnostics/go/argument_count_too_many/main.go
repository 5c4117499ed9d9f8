package main

type Telemetry struct{}

func (t *Telemetry) FuncExit(name string) {}

var Tel = &Telemetry{}

func main() {
	defer Tel.FuncExit("main", 1)
}
