package main

import "telemetry_utils"

func main() {
	telemetry_utils.Init()
}
