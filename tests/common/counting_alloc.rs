//! A global allocator that counts this thread's allocations, for the tests
//! that prove a hot path allocates nothing per sample.
//!
//! The library forbids `unsafe`; a `GlobalAlloc` implementation needs it.
//! Each test binary is its own crate, so the binaries that count include
//! this file with `#[path]`, allow `unsafe_code` at their root and install
//! [`Counting`] as their `#[global_allocator]`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    /// Allocations made by this thread; const-initialised, so reading it
    /// never allocates.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

/// Forwards to the system allocator, counting `alloc` and `realloc` calls.
pub struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator; the
// thread-local counter is a plain `Cell` that needs no allocation.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations this thread has made so far.
pub fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}
