//! The Chatwoot bridge (issue 57): which Chatwoot contact and conversation mirror each Parley conversation, and the Chatwoot messages already sent through Parley (exactly once).

use async_trait::async_trait;

#[async_trait]
pub trait Chatwoot: Send + Sync {}
