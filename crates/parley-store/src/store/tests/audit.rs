//! The `Audit` conformance tests.
