//! Questions an agent's knowledge could not answer (issue 59), counted per flow and step (`unanswered_questions`), read for the insights page and the API.

use async_trait::async_trait;

#[async_trait]
pub trait Unanswered {}
