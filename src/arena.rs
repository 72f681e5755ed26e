//! A start-up arena for the global allocator.
//!
//! A `kvmtriage explain` run lives for about a millisecond, and most of its allocations happen
//! once: iced-x86 builds its decoder tables from tens of thousands of small boxed handlers.
//! Handing those out from a bump arena instead of `malloc` removes most of the allocator's work
//! from the run (docs/performance.md). Memory in the arena is never reused: `dealloc` of an arena
//! block does nothing. That is right for a short-lived tool: the arena is bounded
//! ([`ARENA_SIZE`]), and once it is used up, or for large blocks, every allocation goes to the
//! system allocator as usual, so a long run (`repro`, big logs) keeps normal memory behaviour.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Arena capacity. The decoder and formatter tables take about 1.5 MiB.
const ARENA_SIZE: usize = 4 << 20;
/// Blocks larger than this go to the system allocator (they are few, and may be freed and reused).
const LARGEST_ARENA_BLOCK: usize = 4096;

#[repr(C, align(4096))]
struct Storage(UnsafeCell<[u8; ARENA_SIZE]>);

// SAFETY: the bytes are handed out in disjoint blocks by an atomic bump pointer; no two
// allocations ever overlap, so sharing the storage between threads is sound.
unsafe impl Sync for Storage {}

static STORAGE: Storage = Storage(UnsafeCell::new([0; ARENA_SIZE]));
static USED: AtomicUsize = AtomicUsize::new(0);

/// Bump allocation for small blocks, the system allocator for the rest.
pub struct StartupArena;

impl StartupArena {
    fn base() -> usize {
        STORAGE.0.get() as usize
    }

    fn contains(ptr: *mut u8) -> bool {
        let p = ptr as usize;
        p >= Self::base() && p < Self::base() + ARENA_SIZE
    }

    /// A block from the arena, or `None` when it does not fit.
    fn bump(layout: Layout) -> Option<*mut u8> {
        if layout.size() > LARGEST_ARENA_BLOCK {
            return None;
        }
        let base = Self::base();
        let mut used = USED.load(Ordering::Relaxed);
        loop {
            // Alignments are powers of two no larger than a page (the storage's own alignment).
            let start = (base + used).checked_add(layout.align() - 1)? & !(layout.align() - 1);
            let end = start.checked_add(layout.size())?;
            if end > base + ARENA_SIZE {
                return None;
            }
            match USED.compare_exchange_weak(used, end - base, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Some(start as *mut u8),
                Err(now) => used = now,
            }
        }
    }
}

// SAFETY: every block returned is either a fresh, disjoint, suitably aligned range of the static
// storage (never handed out twice) or comes from `System`; `dealloc` and `realloc` route each
// pointer back to whichever allocator produced it.
unsafe impl GlobalAlloc for StartupArena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= 4096 {
            if let Some(p) = Self::bump(layout) {
                return p;
            }
        }
        // SAFETY: same contract as ours, passed through.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= 4096 {
            if let Some(p) = Self::bump(layout) {
                // Already zero: the static storage starts zeroed and a bump block is never
                // handed out twice.
                return p;
            }
        }
        // SAFETY: same contract as ours, passed through.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !Self::contains(ptr) {
            // SAFETY: `ptr` came from `System.alloc*` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !Self::contains(ptr) {
            // SAFETY: `ptr` came from `System` with `layout`; the caller upholds the rest.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: `layout.align()` is valid and `new_size` is non-zero and fits (caller's contract).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: a fresh allocation with a valid layout.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are valid for the smaller of the two sizes and do not overlap
            // (the new block is fresh).
            unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_disjoint_and_large_ones_go_to_the_system() {
        let a = StartupArena;
        let l8 = Layout::from_size_align(24, 8).expect("layout");
        let l64 = Layout::from_size_align(10, 64).expect("layout");
        let big = Layout::from_size_align(LARGEST_ARENA_BLOCK + 1, 8).expect("layout");
        // SAFETY: valid layouts; every block is written within bounds and freed with its layout.
        unsafe {
            let p = a.alloc(l8);
            let q = a.alloc(l64);
            let r = a.alloc(big);
            assert!(StartupArena::contains(p) && StartupArena::contains(q));
            assert!(!StartupArena::contains(r));
            assert_eq!(q as usize % 64, 0);
            assert!(p as usize + 24 <= q as usize || q as usize + 10 <= p as usize);
            p.write_bytes(0xaa, 24);
            q.write_bytes(0xbb, 10);
            let p2 = a.realloc(p, l8, 100);
            assert_eq!(*p2, 0xaa);
            assert_eq!(*p2.add(23), 0xaa);
            a.dealloc(p2, Layout::from_size_align(100, 8).expect("layout"));
            a.dealloc(q, l64);
            a.dealloc(r, big);
        }
    }
}
