//! `retention:`: how long each kind of history is kept before it is archived and deleted
//! (issue 60). Left out, nothing is archived or deleted.

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {}
