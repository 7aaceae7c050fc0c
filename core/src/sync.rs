//! Locks that outlive a panic.
//!
//! kith's std locks guard maps and flags whose every critical section is
//! one insert, remove or assignment: a panic elsewhere while one was held
//! (std marks the lock poisoned) cannot have left the data half-changed.
//! So a poisoned lock is taken as it is, here in one place, rather than
//! turning one bug into a node that panics on every later request.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// `lock`, `read` and `write` that take a poisoned lock as it is.
pub trait Unpoisoned<T: ?Sized> {
    type Read<'a>
    where
        Self: 'a;
    type Write<'a>
    where
        Self: 'a;
    fn read_lock(&self) -> Self::Read<'_>;
    fn write_lock(&self) -> Self::Write<'_>;
}

impl<T: ?Sized> Unpoisoned<T> for Mutex<T> {
    type Read<'a>
        = MutexGuard<'a, T>
    where
        T: 'a;
    type Write<'a>
        = MutexGuard<'a, T>
    where
        T: 'a;
    fn read_lock(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn write_lock(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T: ?Sized> Unpoisoned<T> for RwLock<T> {
    type Read<'a>
        = RwLockReadGuard<'a, T>
    where
        T: 'a;
    type Write<'a>
        = RwLockWriteGuard<'a, T>
    where
        T: 'a;
    fn read_lock(&self) -> RwLockReadGuard<'_, T> {
        self.read().unwrap_or_else(|e| e.into_inner())
    }
    fn write_lock(&self) -> RwLockWriteGuard<'_, T> {
        self.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_is_taken_as_it_is() {
        let m = std::sync::Arc::new(Mutex::new(1));
        let r = std::sync::Arc::new(RwLock::new(2));
        let (m2, r2) = (m.clone(), r.clone());
        let _ = std::thread::spawn(move || {
            let _a = m2.lock().expect("first lock");
            let _b = r2.write().expect("first lock");
            panic!("poison both");
        })
        .join();
        assert!(m.is_poisoned() && r.is_poisoned());
        *m.write_lock() += 1;
        *r.write_lock() += 1;
        assert_eq!((*m.read_lock(), *r.read_lock()), (2, 3));
    }
}
