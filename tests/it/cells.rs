//! Issue 60/59 tests: cells (being written).
