package main

type Telemetry struct{}

func (t *Telemetry) FuncEntry(name string, id int) {}

var Tel = &Telemetry{}

func main() {
	Tel.FuncEntry("main")
}
