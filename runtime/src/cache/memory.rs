//! A concurrent map whose values are built at most once per key: callers that ask for
//! a key while it is being built wait and share the result instead of building it again.

use std::sync::{Arc, Mutex, PoisonError};

use dashmap::DashMap;

pub struct OnceMap<V> {
    cells: DashMap<String, Arc<Mutex<Option<Arc<V>>>>>,
}

impl<V> Default for OnceMap<V> {
    fn default() -> Self {
        OnceMap { cells: DashMap::new() }
    }
}

impl<V> OnceMap<V> {
    /// The value stored for `key`, or else the one `init` builds, run while holding
    /// only this key's lock. If `init` fails nothing is stored, so the next caller
    /// (possibly one that was waiting) tries again and gets its own error.
    pub fn get_or_try_init<E>(&self, key: &str, init: impl FnOnce() -> Result<V, E>) -> Result<Arc<V>, E> {
        // Clone the cell out so the map's shard lock is not held across `init`, which
        // may take a long time (LLVM, the PTX JIT) and must not block other keys.
        let cell = match self.cells.get(key) {
            Some(cell) => cell.clone(),
            None => self.cells.entry(key.to_string()).or_default().clone(),
        };
        // A panic inside another caller's `init` left `None` behind, which is exactly
        // the "not built yet" state, so a poisoned lock is safe to reuse.
        let mut slot = cell.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(value) = slot.as_ref() {
            return Ok(value.clone());
        }
        let value = Arc::new(init()?);
        *slot = Some(value.clone());
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Barrier;

    #[test]
    fn concurrent_callers_build_once() {
        let map = OnceMap::<u32>::default();
        let builds = AtomicUsize::new(0);
        let barrier = Barrier::new(8);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    barrier.wait();
                    map.get_or_try_init::<()>("k", || {
                        builds.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        Ok(7)
                    })
                });
            }
        });
        assert_eq!(builds.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn second_call_gets_the_first_value() {
        let map = OnceMap::<u32>::default();
        let _ = map.get_or_try_init::<()>("k", || Ok(1));
        assert_eq!(map.get_or_try_init::<()>("k", || Ok(2)).map(|v| *v), Ok(1));
    }

    #[test]
    fn failed_init_is_retried() {
        let map = OnceMap::<u32>::default();
        let _ = map.get_or_try_init("k", || Err("boom"));
        assert_eq!(map.get_or_try_init::<&str>("k", || Ok(3)).map(|v| *v), Ok(3));
    }
}
