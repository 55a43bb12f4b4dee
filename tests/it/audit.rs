//! Issue 60/59 tests: audit (being written).
