//! Counts the bytes each thread holds, so a script can be stopped while it builds values
//! too large (Rhai checks sizes per value and only at some points: a map filled by index
//! assignment is never checked as a whole). The process allocator is the system one,
//! wrapped to add or subtract each allocation's size to a counter of the thread that made
//! it; a script compares the counter with its value when it started.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

/// Bytes allocated minus bytes freed by this thread so far (memory freed on another
/// thread makes it drift, which only matters between two readings far apart).
pub fn live_bytes() -> isize {
    LIVE.try_with(Cell::get).unwrap_or(0)
}

fn note(delta: isize) {
    let _ = LIVE.try_with(|c| c.set(c.get().wrapping_add(delta)));
}

pub struct MeteredAlloc;

// SAFETY: every call is passed to the system allocator unchanged; the counting touches a
// const-initialised thread-local `Cell` that never allocates.
unsafe impl GlobalAlloc for MeteredAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        note(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            note(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: MeteredAlloc = MeteredAlloc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_sees_what_it_holds() {
        let before = live_bytes();
        let v = vec![0u8; 1 << 20];
        assert!(live_bytes() - before >= 1 << 20);
        drop(v);
        assert!(live_bytes() - before < 1 << 10);
    }
}
