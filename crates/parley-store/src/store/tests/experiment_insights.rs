//! Issue 58.
