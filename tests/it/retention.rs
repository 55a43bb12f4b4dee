//! Issue 60/59 tests: retention (being written).
