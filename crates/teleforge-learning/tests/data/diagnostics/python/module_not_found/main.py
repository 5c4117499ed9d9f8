import telemetry_utils

telemetry_utils.init()
