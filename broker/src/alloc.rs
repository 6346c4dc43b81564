//! The broker's global allocator: the system allocator, except that allocations above
//! [`HUGE`] are served by `mmap(MAP_NORESERVE)`.
//!
//! Why: `kafka-protocol` 0.18 decodes an array by `Vec::with_capacity(n)` with `n` taken
//! from the frame, unchecked. A 30-byte malformed request claiming two billion elements
//! asks for hundreds of GB; the system allocator refuses and Rust aborts the process — one
//! frame from any client kills the broker. The decode itself fails a moment later (the
//! buffer runs out), so the memory is never touched. Reserving address space without
//! committing memory makes that allocation harmless: the kernel counts no memory for a
//! `MAP_NORESERVE` mapping until pages are touched, and it is unmapped when the `Vec` drops.
//! Legitimate allocations this large (none exist today) would still work, committed page by
//! page as with any large `malloc`.
//!
//! This is the crate's one `unsafe` exception to the workspace's `unsafe_code = "forbid"`
//! (a `GlobalAlloc` cannot be written without it).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};

/// Allocations above this size are served by `mmap(MAP_NORESERVE)`.
pub const HUGE: usize = 1 << 30;

/// System allocator with lazily-committed huge allocations.
#[derive(Debug)]
pub struct BrokerAlloc;

// SAFETY: small allocations are delegated to `System` unchanged. Huge ones come from an
// anonymous private mapping, which is page-aligned (we only take it when the requested
// alignment is at most a page) and zero-filled; they are released with `munmap` of the same
// length, and the size in the `Layout` passed to `dealloc` decides which path owns a pointer,
// as the `GlobalAlloc` contract guarantees the same layout is passed back.
unsafe impl GlobalAlloc for BrokerAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() <= HUGE || layout.align() > 4096 {
            return unsafe { System.alloc(layout) };
        }
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                layout.size(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            std::ptr::null_mut()
        } else {
            ptr.cast()
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if layout.size() <= HUGE || layout.align() > 4096 {
            unsafe { System.dealloc(ptr, layout) };
        } else {
            unsafe { libc::munmap(ptr.cast(), layout.size()) };
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.size() <= HUGE && new_size <= HUGE {
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // Crossing the threshold: allocate, copy, free through the paths above.
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return std::ptr::null_mut();
        };
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_huge_untouched_allocation_succeeds_and_is_freed() {
        // 256 GiB: more than this machine has; only address space is reserved.
        let v: Vec<u64> = Vec::with_capacity(32 << 30);
        assert!(v.capacity() >= 32 << 30);
        drop(v);
        let mut small: Vec<u8> = Vec::with_capacity(16);
        small.extend_from_slice(b"still the system allocator");
        assert_eq!(small.len(), 26);
    }
}
