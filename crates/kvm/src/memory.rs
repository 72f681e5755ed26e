//! Guest physical memory: one anonymous mapping registered as KVM memory slot 0 at GPA 0.

use std::ptr::NonNull;

use crate::error::{Error, Result};

/// Anonymous, private, zero-filled host memory that backs guest physical addresses
/// `0..size`. Everything above `size` has no memory slot, so KVM reports guest accesses
/// there as MMIO (`KVM_EXIT_MMIO`) or, for instruction fetches, as an emulation failure.
pub struct GuestMemory {
    host: NonNull<u8>,
    size: usize,
}

impl GuestMemory {
    /// Maps `size` bytes (a multiple of 4 KiB).
    pub fn new(size: usize) -> Result<Self> {
        if size == 0 || size & 0xfff != 0 {
            return Err(Error::Memory(format!(
                "size {size:#x} is not a positive multiple of 4 KiB"
            )));
        }
        // SAFETY: an anonymous private mapping with no address hint touches no existing
        // memory; the result is checked against MAP_FAILED before use.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(Error::Memory(format!(
                "mmap of {size:#x} bytes failed: {}",
                std::io::Error::last_os_error()
            )));
        }
        let host = NonNull::new(addr.cast::<u8>())
            .ok_or_else(|| Error::Memory("mmap returned NULL".into()))?;
        Ok(Self { host, size })
    }

    /// Size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Host virtual address of GPA 0 (for `KVM_SET_USER_MEMORY_REGION`).
    pub fn host_address(&self) -> u64 {
        self.host.as_ptr() as u64
    }

    fn range(&self, gpa: u64, len: usize) -> Option<usize> {
        let start = usize::try_from(gpa).ok()?;
        let end = start.checked_add(len)?;
        (end <= self.size).then_some(start)
    }

    /// Copies `data` to guest physical address `gpa`.
    pub fn write(&self, gpa: u64, data: &[u8]) -> Result<()> {
        let start = self.range(gpa, data.len()).ok_or_else(|| {
            Error::Memory(format!(
                "write of {} bytes at GPA {gpa:#x} is outside guest RAM (0..{:#x})",
                data.len(),
                self.size
            ))
        })?;
        // SAFETY: `range` checked that start..start+len lies inside the live mapping; the
        // source is a distinct Rust slice, so the regions cannot overlap. The guest may write
        // the same bytes concurrently only while a vCPU runs, and this crate runs the vCPU on
        // the calling thread, so no vCPU runs during this copy.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.host.as_ptr().add(start), data.len())
        };
        Ok(())
    }

    /// Writes a little-endian u64.
    pub fn write_u64(&self, gpa: u64, value: u64) -> Result<()> {
        self.write(gpa, &value.to_le_bytes())
    }

    /// Reads `len` bytes at `gpa`, or `None` if any of them is outside guest RAM.
    pub fn read(&self, gpa: u64, len: usize) -> Option<Vec<u8>> {
        let start = self.range(gpa, len)?;
        let mut out = vec![0u8; len];
        // SAFETY: bounds checked by `range`; the destination is a fresh Vec of `len` bytes;
        // no vCPU runs during the copy (see `write`).
        unsafe {
            std::ptr::copy_nonoverlapping(self.host.as_ptr().add(start), out.as_mut_ptr(), len)
        };
        Some(out)
    }

    /// Reads one byte.
    pub fn read_u8(&self, gpa: u64) -> Option<u8> {
        self.read(gpa, 1).map(|b| b[0])
    }

    /// Reads a little-endian u64.
    pub fn read_u64(&self, gpa: u64) -> Option<u64> {
        self.read(gpa, 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    /// Reads a little-endian u32.
    pub fn read_u32(&self, gpa: u64) -> Option<u32> {
        self.read(gpa, 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }
}

impl Drop for GuestMemory {
    fn drop(&mut self) {
        // SAFETY: `host`/`size` are exactly the mapping created in `new`, unmapped once here.
        // The VmFd that referenced it is dropped first (field order in `Machine`).
        unsafe {
            libc::munmap(self.host.as_ptr().cast(), self.size);
        }
    }
}

// SAFETY: the mapping is plain memory owned by this value; access goes through bounds-checked
// copies, so moving it to another thread is sound.
unsafe impl Send for GuestMemory {}
