//! Issue 60/59 tests: otlp (being written).
