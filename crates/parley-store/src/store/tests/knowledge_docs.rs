//! `KnowledgeDocs` (issue 59) on both backends.
