"""Small helpers every layer shares: durations, names, JSON, clocks, sync bridging, secrets."""
