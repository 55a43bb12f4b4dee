//! Layer 4 of Parley, beside the engine: what helps people write flows. The flows' JSON
//! Schema (`schema`), the analysis of a project while a file is being typed, before it is
//! saved (`analysis`: the same problems `parley check` reports, completion, hover, go to
//! definition, the outline, quick fixes), the language server over stdio that editors
//! talk to (`lsp`), and a flow drawn as a graph from its compiled form (`drawing`). The
//! `/studio` page and `parley lsp` use them.
//!
//! The crates below are imported at the root under their module names, so a path reads
//! the same in every crate (`crate::flows::Flow`).

#[allow(unused_imports)] // until the studio's rooms use them all
use parley_config::config;
#[allow(unused_imports)]
use parley_domain::domain;
#[allow(unused_imports)]
use parley_flows::flows;

pub mod studio;
