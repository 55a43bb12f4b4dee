//! Issue 60/59 tests: archive_cli (being written).
