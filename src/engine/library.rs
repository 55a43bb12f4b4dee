//! What the interpreter reads besides its input: the loaded flows and the engine's options.
//! The flow set is swapped whole on reload; every version loaded in this process stays
//! available so runs finish on the version they started with. No I/O handles live here.

use super::EngineOptions;
use crate::flows::{Flow, FlowSet};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub struct Library {
    current: RwLock<Arc<FlowSet>>,
    archive: RwLock<HashMap<(String, u64), Arc<Flow>>>,
    pub options: EngineOptions,
}

impl Library {
    pub fn new(flows: FlowSet, options: EngineOptions) -> Self {
        let library = Self {
            current: RwLock::new(Arc::new(FlowSet::default())),
            archive: RwLock::new(HashMap::new()),
            options,
        };
        library.replace(flows);
        library
    }

    /// Makes `flows` the current set (hot reload).
    pub fn replace(&self, flows: FlowSet) {
        {
            let mut archive = self.archive.write().unwrap_or_else(|e| e.into_inner());
            for f in flows.flows() {
                archive
                    .entry((f.id.clone(), f.version))
                    .or_insert_with(|| f.clone());
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

    /// The flow a run started on; after a restart (old versions are gone) the current
    /// version of the same flow.
    pub fn flow_version(&self, id: &str, version: u64) -> Option<Arc<Flow>> {
        if let Some(f) = self
            .archive
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(id.to_string(), version))
        {
            return Some(f.clone());
        }
        self.flows().get(id).cloned()
    }
}
