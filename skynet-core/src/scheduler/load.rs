//! Steps running on each provider in this engine, for the load score.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One counter per registered provider, fixed when the engine is built, so
/// counting a step is one atomic add (no lock on the run path).
#[derive(Debug, Default)]
pub struct LoadTracker {
    running: BTreeMap<String, AtomicUsize>,
}

impl LoadTracker {
    /// A tracker for these provider names.
    pub fn new<'a>(providers: impl IntoIterator<Item = &'a str>) -> Self {
        LoadTracker {
            running: providers
                .into_iter()
                .map(|p| (p.to_string(), AtomicUsize::new(0)))
                .collect(),
        }
    }

    /// Count a step as running on `provider` until the guard is dropped
    /// (however the step ends: the count cannot leak).
    pub fn start(&self, provider: &str) -> LoadGuard<'_> {
        let counter = self.running.get(provider);
        if let Some(c) = counter {
            c.fetch_add(1, Ordering::Relaxed);
        }
        LoadGuard { counter }
    }

    /// Steps running on `provider` now.
    pub fn running(&self, provider: &str) -> usize {
        self.running
            .get(provider)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

/// Holds one running step's place in the count; released on drop.
#[derive(Debug)]
pub struct LoadGuard<'a> {
    counter: Option<&'a AtomicUsize>,
}

impl Drop for LoadGuard<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.counter {
            c.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_count_running_steps_and_release_on_drop() {
        let t = LoadTracker::new(["local", "docker"]);
        let a = t.start("local");
        let b = t.start("local");
        let _unknown = t.start("nowhere");
        assert_eq!((t.running("local"), t.running("docker")), (2, 0));
        drop(a);
        assert_eq!(t.running("local"), 1);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _c = t.start("docker");
            panic!("the step blew up");
        }));
        assert!(r.is_err());
        assert_eq!(t.running("docker"), 0, "released while unwinding");
        drop(b);
        assert_eq!(t.running("local"), 0);
        assert_eq!(t.running("nowhere"), 0);
    }
}
