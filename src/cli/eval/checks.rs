//! See `super` (issue 59).
