//! Issue 60/59 tests: api_scopes (being written).
