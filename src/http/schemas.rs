//! The JSON Schemas of flow files, flow test files and the config, served for editors
//! (`GET /schemas/…`). (being written: issue 56)

use super::state::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
}
