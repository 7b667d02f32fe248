// SPDX-License-Identifier: GPL-2.0

//! Sockets taken from user fds: lookup, facts, callbacks, zero-copy send and receive.

use super::{SkInfo, SkSaved};
use core::ffi::{c_int, c_uint, c_void};
use core::ptr::NonNull;
use kernel::{
    bindings,
    page::Page,
    prelude::*,
    sync::{Arc, ArcBorrow},
    types::ForeignOwnable,
};

#[expect(improper_ctypes, reason = "struct socket is only passed by pointer")]
extern "C" {
    fn omss_sk_info(sock: *mut bindings::socket, out: *mut SkInfo);
    fn omss_sk_wmem_queued(sock: *mut bindings::socket) -> c_uint;
    fn omss_sock_nospace(sock: *mut bindings::socket) -> bool;
    fn omss_sock_has_room(sock: *mut bindings::socket) -> bool;
    fn omss_sk_attach(sock: *mut bindings::socket, ctx: *mut c_void, saved: *mut SkSaved) -> c_int;
    fn omss_sk_detach(sock: *mut bindings::socket, ctx: *mut c_void, saved: *const SkSaved);
    fn omss_sock_hold(sock: *mut bindings::socket);
}

/// Most pages one send or receive covers.
pub(crate) const MAX_IOV_PAGES: usize = 16;

/// A socket of a user fd, with a reference on its file (as `sockfd_lookup` gives).
///
/// # Invariants
///
/// `sock` is a live `struct socket` with a `sk` and a `file`, and this value owns one
/// reference on that file, which keeps both alive; `drop` puts it.
pub(crate) struct Socket {
    sock: NonNull<bindings::socket>,
}

// SAFETY: a `struct socket` may be used from any thread; the file reference keeps it alive.
unsafe impl Send for Socket {}
// SAFETY: the operations used (`sock_sendmsg`, `sock_recvmsg`, ...) do their own locking.
unsafe impl Sync for Socket {}

impl Socket {
    /// Looks up `fd` of the calling process: `EBADF` if it is not open, `ENOTSOCK` if it is
    /// not a socket.
    pub(crate) fn from_fd(fd: i32) -> Result<Self> {
        let mut err: c_int = 0;
        // SAFETY: `sockfd_lookup` accepts any fd and writes an errno to `err` on failure.
        let sock = unsafe { bindings::sockfd_lookup(fd, &mut err) };
        // INVARIANT: `sockfd_lookup` returns a socket with a reference on its file.
        NonNull::new(sock)
            .map(|sock| Self { sock })
            .ok_or_else(|| Error::from_errno(err))
    }

    /// Another reference to the same socket.
    fn hold(&self) -> Self {
        // SAFETY: `self.sock` is live (invariant); this takes one more file reference.
        unsafe { omss_sock_hold(self.sock.as_ptr()) };
        // INVARIANT: the reference just taken is the new value's.
        Self { sock: self.sock }
    }

    /// Whether both are the same socket.
    pub(crate) fn same(&self, other: &Socket) -> bool {
        self.sock == other.sock
    }

    /// Family, type, protocol and state of the socket.
    pub(crate) fn info(&self) -> SkInfo {
        let mut info = SkInfo::default();
        // SAFETY: `self.sock` is a live socket with a `sk`; `info` is valid for write.
        unsafe { omss_sk_info(self.sock.as_ptr(), &mut info) };
        info
    }

    /// Bytes in the write queue. Write space is signalled only as this drains, so a send
    /// that failed (`EAGAIN`) with nothing queued will get no wakeup.
    pub(crate) fn write_queued(&self) -> usize {
        // SAFETY: `self.sock` is a live socket with a `sk`; the read is a plain load.
        unsafe { omss_sk_wmem_queued(self.sock.as_ptr()) as usize }
    }

    /// Whether the socket is marked as waiting for write space (`SOCK_NOSPACE`), as a send
    /// that met a full buffer leaves it.
    pub(crate) fn no_space(&self) -> bool {
        // SAFETY: `self.sock` is a live socket; the read is an atomic bit test.
        unsafe { omss_sock_nospace(self.sock.as_ptr()) }
    }

    /// Whether the send buffer has the room that the write-space hook wakes for
    /// (`sock_writeable`, `sk_stream_is_writeable`). Read after a full barrier, so that a
    /// sender that is marked waiting and then finds no room is sure to be woken by the next
    /// freed buffer.
    pub(crate) fn has_room(&self) -> bool {
        // SAFETY: `self.sock` is a live socket with a `sk`; the call only reads it, after a
        // barrier.
        unsafe { omss_sock_has_room(self.sock.as_ptr()) }
    }

    /// Installs OMSS's callbacks, which will call `T::on_event` on `ctx` until the returned
    /// [`Hook`] is dropped. `EBUSY` if the socket already has a kernel user, `EOPNOTSUPP` if
    /// an upper layer protocol (kTLS, ...) has it.
    pub(crate) fn attach<T: SockEvents>(&self, ctx: Arc<T>) -> Result<Hook> {
        let ptr = into_ctx(ctx)?;
        let mut saved = SkSaved::default();
        // SAFETY: `self.sock` is live; `ptr` stays valid until the hook's drop gives it back.
        let ret = unsafe { omss_sk_attach(self.sock.as_ptr(), ptr, &mut saved) };
        if ret < 0 {
            // SAFETY: `ptr` came from `into_ctx` and was not installed.
            unsafe { drop_ctx(ptr) };
            return Err(Error::from_errno(ret));
        }
        // INVARIANT: installed on this socket, whose reference the hook holds.
        Ok(Hook {
            sock: self.hold(),
            saved,
            ctx: ptr,
        })
    }

    /// Sends `len` bytes starting at byte `off` of the payload held in `pages`, without
    /// copying: the stack takes its own page references. Returns the bytes sent (maybe
    /// fewer) or an error (`EAGAIN` when the send queue is full).
    pub(crate) fn send_pages(&self, pages: &[Page], off: usize, len: usize) -> Result<usize> {
        let mut bvec = [bio_vec_zeroed(); MAX_IOV_PAGES];
        let (n, len) = fill_bvec(&mut bvec, pages, off, len);
        let flags = bindings::MSG_DONTWAIT | bindings::MSG_NOSIGNAL | bindings::MSG_SPLICE_PAGES;
        self.xfer(&mut bvec[..n], len, flags, bindings::ITER_SOURCE, true)
    }

    /// Receives up to `max` bytes into `pages`, from byte `off` on, without blocking.
    /// Returns the bytes received (0 is EOF on a stream socket) and whether a datagram was
    /// truncated.
    pub(crate) fn recv_pages(
        &self,
        pages: &[Page],
        off: usize,
        max: usize,
    ) -> Result<(usize, bool)> {
        let mut bvec = [bio_vec_zeroed(); MAX_IOV_PAGES];
        let (n, max) = fill_bvec(&mut bvec, pages, off, max);
        let mut msg = msghdr_zeroed();
        let got = self.xfer_msg(
            &mut msg,
            &mut bvec[..n],
            max,
            bindings::MSG_DONTWAIT,
            bindings::ITER_DEST,
            false,
        )?;
        Ok((got, msg.msg_flags & bindings::MSG_TRUNC != 0))
    }

    /// Shuts down the sending direction (the peer sees EOF).
    pub(crate) fn shutdown_write(&self) {
        // SAFETY: `self.sock` is live.
        unsafe {
            bindings::kernel_sock_shutdown(self.sock.as_ptr(), bindings::sock_shutdown_cmd_SHUT_WR)
        };
    }

    fn xfer(
        &self,
        bvec: &mut [bindings::bio_vec],
        len: usize,
        flags: u32,
        dir: u32,
        send: bool,
    ) -> Result<usize> {
        let mut msg = msghdr_zeroed();
        self.xfer_msg(&mut msg, bvec, len, flags, dir, send)
    }

    fn xfer_msg(
        &self,
        msg: &mut bindings::msghdr,
        bvec: &mut [bindings::bio_vec],
        len: usize,
        flags: u32,
        dir: u32,
        send: bool,
    ) -> Result<usize> {
        msg.msg_flags = flags;
        // SAFETY: `bvec` describes `len` bytes of live pages and outlives the call below.
        unsafe {
            bindings::iov_iter_bvec(
                &mut msg.msg_iter,
                dir as c_uint,
                bvec.as_ptr(),
                bvec.len() as _,
                len,
            )
        };
        // SAFETY: `self.sock` is live and `msg` is a fully initialised msghdr.
        let ret = unsafe {
            if send {
                bindings::sock_sendmsg(self.sock.as_ptr(), msg)
            } else {
                bindings::sock_recvmsg(self.sock.as_ptr(), msg, flags as c_int)
            }
        };
        if ret < 0 {
            Err(Error::from_errno(ret))
        } else {
            Ok(ret as usize)
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: `sockfd_lookup` took a reference on the socket's file; this is `sockfd_put`.
        unsafe { bindings::fput((*self.sock.as_ptr()).file) };
    }
}

fn bio_vec_zeroed() -> bindings::bio_vec {
    // SAFETY: `bio_vec` is a plain C struct for which all-zero is a valid (empty) value.
    unsafe { core::mem::zeroed() }
}

fn msghdr_zeroed() -> bindings::msghdr {
    // SAFETY: `msghdr` is a plain C struct; all-zero is the empty message the kernel's own
    // callers start from.
    unsafe { core::mem::zeroed() }
}

/// Describes bytes `off..off + len` of a payload laid out over whole `pages` in `bvec`, as far
/// as `pages` and `bvec` reach; returns the number of entries used and the bytes they cover.
fn fill_bvec(
    bvec: &mut [bindings::bio_vec],
    pages: &[Page],
    off: usize,
    len: usize,
) -> (usize, usize) {
    let psz = kernel::page::PAGE_SIZE;
    let (mut idx, mut pos, mut left, mut n) = (off / psz, off % psz, len, 0);
    while left > 0 && idx < pages.len() && n < bvec.len() {
        let part = (psz - pos).min(left);
        bvec[n] = bindings::bio_vec {
            bv_page: pages[idx].as_ptr(),
            bv_len: part as c_uint,
            bv_offset: pos as c_uint,
        };
        (idx, pos, left, n) = (idx + 1, 0, left - part, n + 1);
    }
    (n, len - left)
}

/// Receives socket events; runs in softirq context with the socket's callback lock held,
/// so it may only touch atomics and wake threads.
pub(crate) trait SockEvents: Send + Sync + 'static {
    /// `events` is a mask of `EV_READ`, `EV_WRITE`, `EV_STATE`.
    fn on_event(this: ArcBorrow<'_, Self>, events: u32);
}

/// The callbacks OMSS installed on a socket; dropping it restores the socket's own.
///
/// # Invariants
///
/// `ctx` came from `into_ctx` and is installed as `sk_user_data` of `sock` (which this
/// holds a reference to), with OMSS's callbacks and `saved` the ones they replaced. It
/// is released only by `drop`, after the callbacks are restored.
pub(crate) struct Hook {
    sock: Socket,
    saved: SkSaved,
    ctx: *mut c_void,
}

// SAFETY: `ctx` is a `Ctx` holding an `Arc<T>` with `T: Send + Sync`.
unsafe impl Send for Hook {}
// SAFETY: as above; `Hook` has no methods that use `&self`.
unsafe impl Sync for Hook {}

impl Drop for Hook {
    /// After this no callback of OMSS runs on the socket with this context.
    fn drop(&mut self) {
        // SAFETY: by the invariants `ctx` is installed on `sock` with `saved`; after the
        // write-locked restore no callback can still see `ctx`, so it can be released.
        unsafe {
            omss_sk_detach(self.sock.sock.as_ptr(), self.ctx, &self.saved);
            drop_ctx(self.ctx);
        }
    }
}

/// What `sk_user_data` points to: an `Arc<T>` in foreign form and its type's functions.
struct Ctx {
    obj: *const c_void,
    call: fn(*const c_void, u32),
    release: fn(*const c_void),
}

fn call<T: SockEvents>(obj: *const c_void, events: u32) {
    // SAFETY: `obj` is the `Arc<T>` put in the `Ctx` by `into_ctx`, alive until `drop_ctx`.
    T::on_event(unsafe { Arc::<T>::borrow(obj) }, events);
}

fn release<T: SockEvents>(obj: *const c_void) {
    // SAFETY: `obj` came from `Arc::into_foreign` in `into_ctx`; called once, by `drop_ctx`.
    drop(unsafe { Arc::<T>::from_foreign(obj) });
}

fn into_ctx<T: SockEvents>(obj: Arc<T>) -> Result<*mut c_void> {
    let ctx = KBox::new(
        Ctx {
            obj: core::ptr::null(),
            call: call::<T>,
            release: release::<T>,
        },
        GFP_KERNEL,
    )?;
    let ctx = KBox::into_raw(ctx);
    // SAFETY: `ctx` was just allocated and is exclusively ours.
    unsafe { (*ctx).obj = obj.into_foreign() };
    Ok(ctx.cast())
}

/// # Safety
/// `ptr` came from `into_ctx` and no callback can use it any more.
unsafe fn drop_ctx(ptr: *mut c_void) {
    // SAFETY: per the contract, `ptr` is a `KBox<Ctx>` from `into_raw`, now unused.
    let ctx = unsafe { KBox::from_raw(ptr.cast::<Ctx>()) };
    (ctx.release)(ctx.obj);
}

/// Called by the shim's socket callbacks.
///
/// # Safety
///
/// `ctx` is a socket's `sk_user_data` installed by [`Socket::attach`], and the caller holds
/// that socket's `sk_callback_lock` (read), so the hook's drop cannot free it meanwhile.
#[no_mangle]
unsafe extern "C" fn omss_rs_sk_event(ctx: *mut c_void, events: c_uint) {
    // SAFETY: per the contract, `ctx` is a live `Ctx`.
    let ctx = unsafe { &*ctx.cast::<Ctx>() };
    (ctx.call)(ctx.obj, events);
}
