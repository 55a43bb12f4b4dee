//! The `Retention` conformance tests.
