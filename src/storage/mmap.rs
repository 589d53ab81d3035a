//! Memory maps, and the guard that keeps a file changed underneath a map from killing
//! the process: the only `unsafe` code of the crate.
//!
//! Parts are immutable once published: sightline never truncates, rewrites or appends
//! to a file that may be mapped (new data goes into new files, published by rename;
//! space is reclaimed by unlink, which leaves existing maps valid on Linux). The file
//! length is checked against the manifest when it is mapped. What remains is another
//! program changing a part underneath a reader:
//!
//! - **Rewritten in place** (same length): the reader sees the new bytes. Every read is
//!   bounds-checked and every decoder returns a corruption error on bytes it cannot
//!   decode, so this cannot crash the process; until `check` (which re-verifies every
//!   checksum with ordinary reads) is run, a query racing with such a change may
//!   reflect the foreign bytes, as with SQLite (`howtocorrupt.html`).
//! - **Truncated**: touching a mapped page past the new end of the file raises SIGBUS,
//!   whose default action kills the process. The first map installs a SIGBUS handler
//!   (on Linux) that looks the faulting address up in a table of live maps. If it lies
//!   in one, the handler maps a zero-filled page over the faulting page, marks that map
//!   damaged and returns, so the read completes (with zeros); the snapshot's queries
//!   then check [`Backing::damaged`] and fail with a corruption error naming the file
//!   instead of returning what was computed. A fault anywhere else goes to the handler
//!   that was installed before (Rust's stack-overflow handler, or the application's),
//!   or to the default action. If the table of maps is full, files are read into
//!   memory instead of mapped.

#![allow(unsafe_code)]

use std::fs::File;
use std::io::{self, Read};
use std::ops::Deref;

use memmap2::Mmap;

/// Bytes of a part: mapped from disk, or owned (read by `check`, or tiny files).
pub enum Backing {
    /// A read-only map of the whole file, registered with the SIGBUS guard.
    Map(GuardedMap),
    /// Bytes in memory.
    Owned(Vec<u8>),
}

/// A map registered in the guard's table while it lives.
pub struct GuardedMap {
    slot: usize,
    map: Mmap,
}

impl Drop for GuardedMap {
    fn drop(&mut self) {
        // Unregister before the fields drop (and unmap).
        guard::unregister(self.slot);
    }
}

impl Backing {
    /// Maps the whole of the open `file` read-only (an empty file is not mapped).
    pub fn map(mut file: File) -> io::Result<Backing> {
        if file.metadata()?.len() == 0 {
            return Ok(Backing::Owned(Vec::new()));
        }
        // SAFETY: the map is read-only and covers exactly the file's current length.
        // sightline never modifies a published file (see the module docs); the bytes are
        // only ever read through bounds-checked slices, so even foreign modification
        // cannot cause out-of-bounds access, only a corruption error or a wrong answer.
        // Truncation by another program raises SIGBUS, which the guard turns into a
        // corruption error (module docs).
        let map = unsafe { Mmap::map(&file) }?;
        match guard::register(map.as_ptr() as usize, map.len()) {
            Some(slot) => Ok(Backing::Map(GuardedMap { slot, map })),
            None => {
                // No free slot: an unguarded map could kill the process, so read instead.
                drop(map);
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes)?;
                Ok(Backing::Owned(bytes))
            }
        }
    }

    /// Asks the kernel to map the pages of `range` into the process in one go (Linux
    /// `MADV_POPULATE_READ`), instead of one page fault per 16 pages as they are first
    /// read: what a query about to read a whole section wants. Advice only: failure
    /// (an old kernel, a range past the end) changes nothing.
    pub fn populate(&self, range: std::ops::Range<usize>) {
        #[cfg(target_os = "linux")]
        if let Backing::Map(m) = self
            && range.end <= m.map.len()
            && range.start < range.end
        {
            let _ = m.map.advise_range(
                memmap2::Advice::PopulateRead,
                range.start,
                range.end - range.start,
            );
        }
        #[cfg(not(target_os = "linux"))]
        let _ = range;
    }

    /// True if the file was truncated underneath this map (a page of it had to be
    /// replaced by zeros): what was read from it since cannot be trusted.
    pub fn damaged(&self) -> bool {
        match self {
            Backing::Map(m) => guard::damaged(m.slot),
            Backing::Owned(_) => false,
        }
    }
}

impl Deref for Backing {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Backing::Map(m) => &m.map,
            Backing::Owned(v) => v,
        }
    }
}

#[cfg(target_os = "linux")]
mod guard {
    use std::sync::Once;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// Most maps guarded at once (parts of every open snapshot of the process).
    const SLOTS: usize = 4096;

    struct Slot {
        claimed: AtomicBool,
        start: AtomicUsize,
        len: AtomicUsize,
        damaged: AtomicBool,
    }

    static TABLE: [Slot; SLOTS] = [const {
        Slot {
            claimed: AtomicBool::new(false),
            start: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
            damaged: AtomicBool::new(false),
        }
    }; SLOTS];
    static PAGE: AtomicUsize = AtomicUsize::new(4096);
    static PREVIOUS: OnceLock<Previous> = OnceLock::new();
    static INSTALL: Once = Once::new();

    /// The SIGBUS disposition before ours.
    struct Previous {
        handler: libc::sighandler_t,
        siginfo: bool,
    }

    pub fn register(start: usize, len: usize) -> Option<usize> {
        INSTALL.call_once(install);
        PREVIOUS.get()?; // not installed: do not map unguarded
        for (i, s) in TABLE.iter().enumerate() {
            if s.claimed
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                s.damaged.store(false, Ordering::Release);
                s.len.store(len, Ordering::Release);
                s.start.store(start, Ordering::Release);
                return Some(i);
            }
        }
        None
    }

    pub fn unregister(slot: usize) {
        if let Some(s) = TABLE.get(slot) {
            s.start.store(0, Ordering::Release);
            s.claimed.store(false, Ordering::Release);
        }
    }

    pub fn damaged(slot: usize) -> bool {
        TABLE
            .get(slot)
            .is_some_and(|s| s.damaged.load(Ordering::Acquire))
    }

    fn install() {
        // SAFETY: sysconf and sigaction are called with valid arguments; the handler
        // only reads atomics, calls mmap (a system call) and sigaction, or chains.
        unsafe {
            let page = libc::sysconf(libc::_SC_PAGESIZE);
            if page > 0 {
                PAGE.store(page as usize, Ordering::Relaxed);
            }
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = on_sigbus as *const () as libc::sighandler_t;
            new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut new.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, &new, &mut old) == 0 {
                let _ = PREVIOUS.set(Previous {
                    handler: old.sa_sigaction,
                    siginfo: old.sa_flags & libc::SA_SIGINFO != 0,
                });
            }
        }
    }

    extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
        let addr = unsafe { (*info).si_addr() } as usize;
        let page = PAGE.load(Ordering::Relaxed);
        for s in TABLE.iter() {
            let start = s.start.load(Ordering::Acquire);
            if start == 0 || addr < start || addr - start >= s.len.load(Ordering::Acquire) {
                continue;
            }
            let at = addr & !(page - 1);
            // SAFETY: `at` is a page of a live read-only map of ours; replacing it with a
            // private zero page only changes what that map reads.
            let r = unsafe {
                libc::mmap(
                    at as *mut libc::c_void,
                    page,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if r != libc::MAP_FAILED {
                s.damaged.store(true, Ordering::Release);
                return;
            }
            break;
        }
        // Not ours: whoever handled SIGBUS before, else the default action.
        match PREVIOUS.get() {
            Some(p) if p.handler != libc::SIG_DFL && p.handler != libc::SIG_IGN => {
                // SAFETY: `handler` was installed as a handler of this signal, with the
                // signature its SA_SIGINFO flag says.
                unsafe {
                    if p.siginfo {
                        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                            std::mem::transmute(p.handler);
                        f(sig, info, ctx);
                    } else {
                        let f: extern "C" fn(libc::c_int) = std::mem::transmute(p.handler);
                        f(sig);
                    }
                }
            }
            _ => {
                // SAFETY: restoring the default action; the faulting access runs again
                // and the signal then terminates the process as it would have.
                unsafe {
                    let mut dfl: libc::sigaction = std::mem::zeroed();
                    dfl.sa_sigaction = libc::SIG_DFL;
                    libc::sigaction(libc::SIGBUS, &dfl, std::ptr::null_mut());
                }
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod guard {
    //! Elsewhere maps are not guarded: files are read into memory instead.
    pub fn register(_start: usize, _len: usize) -> Option<usize> {
        None
    }
    pub fn unregister(_slot: usize) {}
    pub fn damaged(_slot: usize) -> bool {
        false
    }
}
