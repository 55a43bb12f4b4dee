//! A send's turn in its sender's pace, without holding one of the outbox's slots.
//!
//! The outbox runs `outbox.concurrency` sends at a time. A send that had to wait for its
//! turn in a paced sender's line used to keep its slot while it waited: a broadcast's sends
//! claimed by the dozen then held every slot, one leaving every `1/pace`, and replies on
//! every other number of the process waited for a slot to free up (BENCHMARKS.md, "Replies
//! before a broadcast in the sender's pace"). Here a send whose turn is not free at once
//! gives its slot back while it waits (`engine::slot::idle`) and takes one again to call
//! the provider, so the slots are for sends in flight and one sender's backlog does not
//! keep another sender's replies from them; the pace still orders live replies before bulk
//! sends (`channels::pacer`). A send whose turn is free at once (every send of an unpaced
//! or idle sender) pays nothing for this: the pace is polled once first.
//!
//! At shutdown a send still waiting for its turn stops waiting and is put back (not an
//! attempt): the outbox drains the sends in flight, not a broadcast's backlog at the pace.

use crate::channels::pacer::Lane;
use crate::channels::senders::SenderRuntime;
use std::future::Future;
use std::task::Poll;
use tokio_util::sync::CancellationToken;

tokio::task_local! {
    static SHUTDOWN: CancellationToken;
}

/// Runs `work` (a send and the ones of its conversation after it) so that its waits for a
/// turn end at `shutdown`.
pub(super) async fn until<F: Future>(shutdown: CancellationToken, work: F) -> F::Output {
    SHUTDOWN.scope(shutdown, work).await
}

/// Waits for the send's turn in `sender`'s pace in `lane`; `false` when the process began
/// to shut down first (the send is then put back).
pub(super) async fn wait(sender: &SenderRuntime, lane: Lane) -> bool {
    let mut turn = std::pin::pin!(sender.pace(lane));
    let now = std::future::poll_fn(|cx| Poll::Ready(turn.as_mut().poll(cx).is_ready())).await;
    if now {
        return true;
    }
    let shutdown = SHUTDOWN.try_with(Clone::clone).ok();
    crate::engine::slot::idle(async move {
        match shutdown {
            Some(shutdown) => tokio::select! {
                _ = turn => true,
                _ = shutdown.cancelled() => false,
            },
            None => {
                turn.await;
                true
            }
        }
    })
    .await
}
