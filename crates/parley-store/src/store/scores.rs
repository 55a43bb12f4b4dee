//! Scored agent conversations (issue 59): the conversations drawn to be scored by a judge model in the background (`agent_scores`), their scores and verdicts, read for the insights page, the API and the score metric.

use async_trait::async_trait;

#[async_trait]
pub trait AgentScores {}
