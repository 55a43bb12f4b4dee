//! Issue 60/59 tests: embeddings (being written).
