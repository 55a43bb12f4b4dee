//! Retention (issue 60): archives history past its period, then deletes it.
