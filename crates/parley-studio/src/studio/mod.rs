//! The flow studio's parts, one room each (see the crate's docs).

pub mod analysis;
pub mod drawing;
pub mod lsp;
pub mod schema;
