//! What happened to each webhook of a run, written lock-free by the sender tasks and the
//! Graph API double and read once at the end. Every instant is nanoseconds since one
//! `Instant` of this process (0 = never happened), so the latency from "webhook sent" to
//! "reply received at the double" needs no clock synchronisation.

use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::time::{Duration, Instant};

pub struct Tracker {
    epoch: Instant,
    contacts: u32,
    sent: Vec<AtomicU64>,
    acked: Vec<AtomicU64>,
    /// HTTP status of the webhook's answer; 0 when no answer came (transport error).
    status: Vec<AtomicU16>,
    first_reply: Vec<AtomicU64>,
    replies: Vec<AtomicU32>,
    /// The sender (index + 1, by the `phone_number_id` the double was called on) of the
    /// first reply that said which (`--senders`); 0 = none.
    reply_sender: Vec<AtomicU8>,
    /// Replies at the double that carry no token of this run.
    pub unexpected: AtomicU64,
    /// Replies carrying a token but addressed to another contact than the webhook's.
    pub misrouted: AtomicU64,
}

impl Tracker {
    pub fn new(total: usize, contacts: u32) -> Self {
        let zeros64 = || -> Vec<AtomicU64> { (0..total).map(|_| AtomicU64::new(0)).collect() };
        Self {
            epoch: Instant::now(),
            contacts,
            sent: zeros64(),
            acked: zeros64(),
            status: (0..total).map(|_| AtomicU16::new(0)).collect(),
            first_reply: zeros64(),
            replies: (0..total).map(|_| AtomicU32::new(0)).collect(),
            reply_sender: (0..total).map(|_| AtomicU8::new(0)).collect(),
            unexpected: AtomicU64::new(0),
            misrouted: AtomicU64::new(0),
        }
    }

    pub fn len(&self) -> usize {
        self.sent.len()
    }

    /// Now, as nanoseconds since the epoch (never 0).
    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64 + 1
    }

    pub fn instant(&self, ns: u64) -> Instant {
        self.epoch + Duration::from_nanos(ns)
    }

    pub fn contact_of(&self, seq: usize) -> u32 {
        (seq % self.contacts as usize) as u32
    }

    pub fn sent(&self, seq: usize, at: u64) {
        self.sent[seq].store(at, Relaxed);
    }

    pub fn answered(&self, seq: usize, status: u16, at: u64) {
        self.status[seq].store(status, Relaxed);
        self.acked[seq].store(at, Relaxed);
    }

    /// A reply for webhook `seq` reached the double, addressed to `to` (digits).
    pub fn reply(&self, seq: usize, to: &str, at: u64) {
        if seq >= self.len() {
            self.unexpected.fetch_add(1, Relaxed);
            return;
        }
        if to != contact_digits(self.contact_of(seq)) {
            self.misrouted.fetch_add(1, Relaxed);
        }
        if self.replies[seq].fetch_add(1, Relaxed) == 0 {
            self.first_reply[seq].store(at, Relaxed);
        }
    }

    /// A reply for webhook `seq` came from sender index `sender` (`--senders`); the first
    /// one to say is kept.
    pub fn reply_from(&self, seq: usize, sender: u8) {
        if let Some(slot) = self.reply_sender.get(seq) {
            let _ = slot.compare_exchange(0, sender.saturating_add(1), Relaxed, Relaxed);
        }
    }

    /// The sender index a reply for webhook `seq` came from, if one said.
    pub fn reply_sender(&self, seq: usize) -> Option<u8> {
        match self.reply_sender.get(seq)?.load(Relaxed) {
            0 => None,
            n => Some(n - 1),
        }
    }

    /// Webhooks with at least one reply.
    pub fn replied(&self) -> usize {
        self.replies.iter().filter(|r| r.load(Relaxed) > 0).count()
    }

    /// Acknowledged (200) webhooks that have no reply yet.
    pub fn missing(&self) -> usize {
        (0..self.len())
            .filter(|&i| self.status(i) == 200 && self.replies[i].load(Relaxed) == 0)
            .count()
    }

    pub fn entry(&self, seq: usize) -> Entry {
        Entry {
            sent: self.sent[seq].load(Relaxed),
            acked: self.acked[seq].load(Relaxed),
            status: self.status(seq),
            first_reply: self.first_reply[seq].load(Relaxed),
            replies: self.replies[seq].load(Relaxed),
        }
    }

    fn status(&self, seq: usize) -> u16 {
        self.status[seq].load(Relaxed)
    }
}

/// One webhook's record, read after the run.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub sent: u64,
    pub acked: u64,
    pub status: u16,
    pub first_reply: u64,
    pub replies: u32,
}

/// The WhatsApp id (digits, no `+`) of contact `c`: 1555 followed by seven digits.
pub fn contact_digits(c: u32) -> String {
    format!("1555{c:07}")
}
