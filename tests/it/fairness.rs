//! Issue 60/59 tests: fairness (being written).
