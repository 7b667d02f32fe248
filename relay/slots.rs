// SPDX-License-Identifier: GPL-2.0

//! A small table of items with stable slots; freed slots are reused.

use kernel::prelude::*;

/// Sorts a short list by `key` (insertion sort). core's slice sorts leave paths that objtool
/// reports as falling through to the next function, so the module does not use them.
pub(crate) fn sort_short<T>(v: &mut [T], key: impl Fn(&T) -> u32) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && key(&v[j - 1]) > key(&v[j]) {
            v.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// Items in `Option` slots (6.12's `KVec` cannot remove from the middle).
pub(crate) struct Slots<T> {
    v: KVec<Option<T>>,
    len: usize,
}

impl<T> Slots<T> {
    /// An empty table.
    pub(crate) fn new() -> Self {
        Self {
            v: KVec::new(),
            len: 0,
        }
    }

    /// Number of items.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Adds an item in the first free slot.
    pub(crate) fn insert(&mut self, item: T) -> Result {
        match self.v.iter_mut().find(|s| s.is_none()) {
            Some(slot) => *slot = Some(item),
            None => self.v.push(Some(item), GFP_KERNEL)?,
        }
        self.len += 1;
        Ok(())
    }

    /// Removes and returns the first item matching `f`.
    pub(crate) fn remove_first(&mut self, f: impl Fn(&T) -> bool) -> Option<T> {
        let slot = self.v.iter_mut().find(|s| s.as_ref().is_some_and(&f))?;
        self.len -= 1;
        slot.take()
    }

    /// The first item matching `f`.
    pub(crate) fn find(&self, f: impl Fn(&T) -> bool) -> Option<&T> {
        self.iter().find(|t| f(t))
    }

    /// Every item.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.v.iter().filter_map(|s| s.as_ref())
    }

    /// Empties the table, returning what it held.
    pub(crate) fn take_all(&mut self) -> KVec<Option<T>> {
        self.len = 0;
        core::mem::take(&mut self.v)
    }
}
