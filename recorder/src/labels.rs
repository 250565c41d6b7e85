//! Labels (`gilknocker.label("load-data")`): process-wide, shared by every recorder.
//!
//! Meaning: a knock records the most recently entered label that is still active, whichever
//! thread entered it. Nested labels therefore mark the innermost phase and restore the outer
//! one on exit; labels entered by several threads at once resolve to the newest. A label is a
//! program phase, not a thread's identity: the GIL is one lock for all threads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

struct Registry {
    next_token: u64,
    /// Active labels in the order they were entered.
    active: Vec<(u64, Arc<str>)>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    next_token: 1,
    active: Vec::new(),
});
/// Bumped on every change, so the knocker re-reads the label only when it changed.
static GENERATION: AtomicU64 = AtomicU64::new(0);

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Activate `name`; returns the token that ends it.
pub fn enter(name: &str) -> u64 {
    let mut r = registry();
    let token = r.next_token;
    r.next_token += 1;
    r.active.push((token, Arc::from(name)));
    GENERATION.fetch_add(1, Ordering::AcqRel);
    token
}

/// End the label of `token` (wherever it is in the order). False if it was not active.
pub fn exit(token: u64) -> bool {
    let mut r = registry();
    let Some(position) = r.active.iter().position(|(t, _)| *t == token) else {
        return false;
    };
    r.active.remove(position);
    GENERATION.fetch_add(1, Ordering::AcqRel);
    true
}

/// The label a knock starting now records.
pub fn current() -> Option<Arc<str>> {
    registry().active.last().map(|(_, name)| name.clone())
}

/// The knocker's view of the current label: one atomic load per knock while nothing changes.
#[derive(Default)]
pub struct LabelCache {
    generation: u64,
    current: Option<Arc<str>>,
}

impl LabelCache {
    pub fn refresh(&mut self) -> Option<Arc<str>> {
        let generation = GENERATION.load(Ordering::Acquire);
        if generation != self.generation {
            // Read the generation first: a change after it is seen on the next knock.
            self.current = current();
            self.generation = generation;
        }
        self.current.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test: the registry is process-wide state.
    #[test]
    fn nesting_threads_and_the_cache() {
        let mut cache = LabelCache::default();
        assert_eq!(cache.refresh(), None);
        let outer = enter("load");
        assert_eq!(cache.refresh().as_deref(), Some("load"));
        let inner = enter("parse");
        assert_eq!(cache.refresh().as_deref(), Some("parse"));
        assert!(exit(inner));
        assert_eq!(cache.refresh().as_deref(), Some("load"));
        // Another thread enters a label: the newest active one wins until it ends.
        let other = std::thread::spawn(|| enter("train")).join().unwrap();
        assert_eq!(cache.refresh().as_deref(), Some("train"));
        // The outer label ends first: "train" stays.
        assert!(exit(outer));
        assert_eq!(cache.refresh().as_deref(), Some("train"));
        assert!(exit(other));
        assert!(!exit(other), "a token ends once");
        assert_eq!(cache.refresh(), None);
    }
}
