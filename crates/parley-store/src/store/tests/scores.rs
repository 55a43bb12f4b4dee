//! `AgentScores` (issue 59) on both backends.
