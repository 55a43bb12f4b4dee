//! Meta's conversation routing (issue 57): who owns each conversation's thread (Parley, another app, idle) and the changes of ownership.

use async_trait::async_trait;

#[async_trait]
pub trait Routing: Send + Sync {}
