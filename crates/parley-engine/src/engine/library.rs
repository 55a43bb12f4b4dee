//! What the interpreter reads besides its input: the loaded flows and the engine's options.
//! The flow set is swapped whole on reload; the last `VERSIONS_KEPT` versions of each flow
//! loaded in this process stay available so runs finish on the version they started with.
//! No I/O handles live here.
//!
//! Candidate versions (issue 58) are archived like main files, so a run finishes on the
//! version it started on whichever file it came from; the rollouts' shares (kept in the
//! database, refreshed by `workers::rollouts`) say how many new runs each candidate gets.

use super::EngineOptions;
use crate::flows::{Flow, FlowSet};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Versions of one flow kept for the runs that started on them; a run on an older one goes
/// on with the current version, as after a restart. Every edit loaded by hot reload would
/// otherwise stay in memory for the life of the process.
pub const VERSIONS_KEPT: usize = 16;

pub struct Library {
    current: RwLock<Arc<FlowSet>>,
    archive: RwLock<Archive>,
    /// Each flow's rollout: the candidate label it was set for and its share (0 to 100).
    rollouts: RwLock<HashMap<String, (String, u8)>>,
    pub options: EngineOptions,
}

/// The kept versions of each flow, each with when it was last loaded (a count of loads).
#[derive(Default)]
struct Archive {
    versions: HashMap<(String, u64), (Arc<Flow>, u64)>,
    loads: u64,
}

impl Library {
    pub fn new(flows: FlowSet, options: EngineOptions) -> Self {
        let library = Self {
            current: RwLock::new(Arc::new(FlowSet::default())),
            archive: RwLock::new(Archive::default()),
            rollouts: RwLock::new(HashMap::new()),
            options,
        };
        library.replace(flows);
        library
    }

    /// Makes `flows` the current set (hot reload).
    pub fn replace(&self, flows: FlowSet) {
        {
            let mut archive = self.archive.write().unwrap_or_else(|e| e.into_inner());
            let mut added = false;
            for f in flows.flows().iter().chain(flows.candidates()) {
                let loads = archive.loads;
                // Loading a version again (an edit undone) makes it the newest.
                archive
                    .versions
                    .entry((f.id.clone(), f.version))
                    .and_modify(|kept| kept.1 = loads)
                    .or_insert_with(|| {
                        added = true;
                        (f.clone(), loads)
                    });
                archive.loads += 1;
            }
            if added {
                archive.forget_old();
            }
        }
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(flows);
    }

    pub fn flows(&self) -> Arc<FlowSet> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many versions of flow `id` are kept (tests).
    pub fn versions_kept(&self, id: &str) -> usize {
        let archive = self.archive.read().unwrap_or_else(|e| e.into_inner());
        archive.versions.keys().filter(|(f, _)| f == id).count()
    }

    /// The flow a run started on; after a restart, or once `VERSIONS_KEPT` newer versions
    /// of it were loaded, the current version of the same flow.
    pub fn flow_version(&self, id: &str, version: u64) -> Option<Arc<Flow>> {
        if let Some(f) = self
            .archive
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .versions
            .get(&(id.to_string(), version))
        {
            return Some(f.0.clone());
        }
        self.flows().get(id).cloned()
    }
}

/// Rollouts.
impl Library {
    /// Replaces every rollout: `(flow, candidate label, share)` (the rollouts worker, from
    /// the database).
    pub fn set_rollouts(&self, rollouts: impl IntoIterator<Item = (String, String, u8)>) {
        let map = rollouts
            .into_iter()
            .map(|(flow, label, share)| (flow, (label, share.min(100))))
            .collect();
        *self.rollouts.write().unwrap_or_else(|e| e.into_inner()) = map;
    }

    /// Sets one flow's rollout at once (the process that changed it).
    pub fn set_rollout(&self, flow: &str, label: &str, share: u8) {
        self.rollouts
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(flow.to_string(), (label.to_string(), share.min(100)));
    }

    /// The share (percent) of new runs of `flow` its candidate `label` is served: 0 when no
    /// rollout was set, or when it was set for another label (a new candidate starts at 0).
    pub fn rollout_share(&self, flow: &str, label: &str) -> u8 {
        match self
            .rollouts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(flow)
        {
            Some((l, share)) if l == label => *share,
            _ => 0,
        }
    }
}

impl Archive {
    /// Keeps the `VERSIONS_KEPT` most recently loaded versions of each flow.
    fn forget_old(&mut self) {
        let mut by_flow: HashMap<&str, Vec<(u64, u64)>> = HashMap::new();
        for ((id, version), (_, loaded)) in &self.versions {
            by_flow.entry(id).or_default().push((*loaded, *version));
        }
        let mut old = Vec::new();
        for (id, mut versions) in by_flow {
            if versions.len() > VERSIONS_KEPT {
                versions.sort_unstable_by(|a, b| b.cmp(a));
                old.extend(
                    versions[VERSIONS_KEPT..]
                        .iter()
                        .map(|&(_, v)| (id.to_string(), v)),
                );
            }
        }
        for key in old {
            self.versions.remove(&key);
        }
    }
}
