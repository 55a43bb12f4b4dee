//! Experiments (issue 58): which arm of an experiment a conversation is in, and why. An
//! experiment is a flow's `split` step (named `<flow>/<step id>`) or a flow's candidate
//! version served to a share of new conversations (named `<flow>@version`).
//!
//! The arm a contact gets is a pure function of the contact and the experiment
//! (`bucket`), so it is the same after a restart and in every process; the conversation's
//! state records it (`ConversationState::experiments`) so a later change of the weights
//! does not move a contact who already went down one arm.

use serde::{Deserialize, Serialize};

/// The suffix naming a flow's versions experiment: `welcome@version`.
pub const VERSION_EXPERIMENT_SUFFIX: &str = "@version";

/// The arm of a flow's versions experiment served by the flow's main file.
pub const CURRENT_ARM: &str = "current";

/// The contact field that forces arms: `{"welcome/opening": "long", "welcome@version":
/// "v2"}`. The sandbox and the studio set it when a person picks an arm to try; the API can
/// set it for staff's own numbers. A forced arm wins over the draw and the record.
pub const FORCED_ARMS_FIELD: &str = "experiment_arms";

/// How a conversation came to be in an arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArmWhy {
    /// Drawn by the contact's bucket and the arms' weights (or the rollout's share).
    Drawn,
    /// Chosen by hand when trying the flow (the sandbox, the studio, `FORCED_ARMS_FIELD`):
    /// it wins over the draw.
    Forced,
}

/// The arm recorded for one experiment in a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArmChoice {
    pub arm: String,
    pub why: ArmWhy,
}

/// The experiment arm a run is counted under in the experiments' insights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunArm {
    pub experiment: String,
    pub arm: String,
}

/// A number in `0..10_000` for `contact` in `experiment`: the same everywhere, always
/// (FNV-1a over both, then a 64-bit finaliser so close keys spread evenly).
pub fn bucket(contact: &str, experiment: &str) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in contact
        .as_bytes()
        .iter()
        .chain(&[0u8])
        .chain(experiment.as_bytes())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // splitmix64's finaliser
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h % 10_000) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_stable_and_spread_evenly() {
        assert_eq!(
            bucket("+15550001", "welcome/opening"),
            bucket("+15550001", "welcome/opening")
        );
        let mut halves = [0u32; 2];
        for i in 0..10_000 {
            halves[(bucket(&format!("+1555{i:07}"), "x/y") >= 5_000) as usize] += 1;
        }
        assert!((4_800..=5_200).contains(&halves[0]), "{halves:?}");
    }
}
