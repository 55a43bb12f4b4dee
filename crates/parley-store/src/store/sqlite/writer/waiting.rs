//! The jobs waiting for the writer thread, sorted into lanes, and the order in which a
//! batch takes them.

use super::job::{Job, Lane};
use std::collections::VecDeque;
use std::time::Instant;

/// Jobs committed together at most. A batch this size takes a few milliseconds, which
/// bounds how long the first job of a batch waits for the last.
pub(super) const MAX_BATCH: usize = 256;

/// The jobs waiting for the writer thread, by lane.
#[derive(Default)]
pub(super) struct Waiting {
    pub(super) first: VecDeque<Job>,
    pub(super) in_turn: VecDeque<Job>,
    pub(super) reads: VecDeque<Job>,
    /// With the time each came: the oldest decides when riders go alone.
    pub(super) riding: VecDeque<(Instant, Job)>,
    /// Jobs of a batch cut short for ingests (`commit_batch`), in their order: they go
    /// next, right after the ingests waiting then.
    pub(super) carried: VecDeque<Job>,
}

impl Waiting {
    pub(super) fn take(&mut self, (lane, job): (Lane, Job)) {
        match lane {
            Lane::First => self.first.push_back(job),
            Lane::InTurn => self.in_turn.push_back(job),
            Lane::Read => self.reads.push_back(job),
            Lane::Riding => self.riding.push_back((Instant::now(), job)),
        }
    }

    /// Whether a job is waiting that starts a commit.
    pub(super) fn urgent(&self) -> bool {
        !self.first.is_empty() || !self.in_turn.is_empty() || !self.carried.is_empty()
    }

    /// Whether a job is waiting that runs at once: one that starts a commit, or a read.
    pub(super) fn ready(&self) -> bool {
        self.urgent() || !self.reads.is_empty()
    }

    /// The next batch: ingests, then jobs carried from a batch cut short, then reads, then
    /// jobs in turn, then riders, `MAX_BATCH` at most; with how many of it are ingests.
    pub(super) fn batch(&mut self) -> (Vec<Job>, usize) {
        let from_first = self.first.len().min(MAX_BATCH);
        let mut batch: Vec<Job> = self.first.drain(..from_first).collect();
        let carried = self.carried.len().min(MAX_BATCH - batch.len());
        batch.extend(self.carried.drain(..carried));
        let reads = self.reads.len().min(MAX_BATCH - batch.len());
        batch.extend(self.reads.drain(..reads));
        let from_turn = self.in_turn.len().min(MAX_BATCH - batch.len());
        batch.extend(self.in_turn.drain(..from_turn));
        let riders = self.riding.len().min(MAX_BATCH - batch.len());
        batch.extend(self.riding.drain(..riders).map(|(_, job)| job));
        (batch, from_first)
    }
}
