//! Work an ingest claims for this process's inbox in its own commit, handed over
//! without a claim of the inbox's own.

use super::*;

/// Conversations a webhook's ingest claimed for this process's inbox in the ingest's own
/// commit (`Ingest::ingest_and_claim`), which the inbox then runs without a claim of its
/// own: one write job less per message. The inbox opens this when it starts and closes it
/// when it stops; ingests claim only while it is open and only for its free slots (less the
/// handed work already waiting for one). A busy inbox gets nothing handed: its work waits in
/// the database for a claim, as before, and claims take many conversations in one job.
#[derive(Default)]
pub struct IngestClaims {
    pub(super) handoff: Arc<Handoff<InboxWork>>,
    claimer: RwLock<Option<Claimer>>,
}

pub(super) struct Claimer {
    pub(super) owner: Arc<str>,
    pub(super) lease: Duration,
    pub(super) clock: Arc<dyn Clock>,
    /// The inbox's slots: work is handed over only to free ones.
    pub(super) slots: Arc<Semaphore>,
}

impl std::fmt::Debug for IngestClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestClaims")
            .field("handed", &self.handoff.len())
            .finish_non_exhaustive()
    }
}

impl IngestClaims {
    /// The claim an ingest starting now makes, if an inbox runs here and has room.
    pub fn claim(&self) -> Option<InboxClaim> {
        let claimer = self.claimer.read().ok()?;
        let c = claimer.as_ref()?;
        let room = c
            .slots
            .available_permits()
            .saturating_sub(self.handoff.len());
        (room > 0).then(|| InboxClaim {
            owner: c.owner.clone(),
            now: c.clock.now(),
            lease: c.lease,
            limit: room,
            events: EVENTS_PER_LOAD,
        })
    }

    /// Hands what an ingest claimed with `claim` to the inbox.
    pub fn hand(&self, claim: &InboxClaim, work: Vec<ClaimedWork>) {
        for work in work {
            self.handoff.push(Leased::handed(work, claim.lease));
        }
    }

    pub(super) fn open(&self, claimer: Claimer) {
        if let Ok(mut c) = self.claimer.write() {
            *c = Some(claimer);
        }
    }

    /// As an inbox running here with `slots` opens it.
    #[cfg(test)]
    pub(in crate::workers) fn open_for(
        &self,
        owner: &str,
        lease: Duration,
        clock: Arc<dyn Clock>,
        slots: Arc<Semaphore>,
    ) {
        self.open(Claimer {
            owner: owner.into(),
            lease,
            clock,
            slots,
        });
    }

    /// The handed-over work waiting, taken.
    #[cfg(test)]
    pub(in crate::workers) async fn take_handed(&self, store: &DynStore) -> Vec<ConversationWork> {
        let mut work = Vec::new();
        for w in self.handoff.take(usize::MAX) {
            let read = w.item.read_or_load(&**store, EVENTS_PER_LOAD).await;
            work.push(read.expect("readable handed work"));
        }
        work
    }

    /// Hands already-read `work` as an ingest's claim would have.
    #[cfg(test)]
    pub(in crate::workers) fn hand_read(&self, claim: &InboxClaim, work: Vec<ConversationWork>) {
        self.hand(claim, work.into_iter().map(ClaimedWork::ready).collect());
    }

    pub(in crate::workers) fn close(&self) {
        if let Ok(mut c) = self.claimer.write() {
            *c = None;
        }
    }
}
