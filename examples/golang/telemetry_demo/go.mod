module example.com/telemetry_demo

go 1.21
