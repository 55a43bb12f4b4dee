//! (issue 57) — filled by its helper.
