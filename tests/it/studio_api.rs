//! (being written: issue 56)
