//! The `/dev/omss` file and its ioctls.

use omss_uapi::*;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;

pub struct Device {
    file: File,
}

impl Device {
    pub fn open(path: &str) -> Result<Self, String> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map(|file| Self { file })
            .map_err(|e| format!("cannot open {path}: {e}"))
    }

    /// Issues `cmd` with `arg`; returns the ioctl's value or the errno.
    fn ioctl<T>(&self, cmd: u32, arg: &mut T) -> Result<i32, i32> {
        // SAFETY: `arg` is a live, exclusive `T` of the size encoded in `cmd`.
        let r = unsafe { libc::ioctl(self.file.as_raw_fd(), cmd as _, arg as *mut T) };
        if r < 0 {
            Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
        } else {
            Ok(r)
        }
    }

    pub fn version(&self) -> Result<OmssVersion, String> {
        let mut v = OmssVersion::request();
        self.ioctl(OMSS_IOC_VERSION, &mut v)
            .map_err(|e| format!("OMSS_IOC_VERSION: {}", errno_text(e)))?;
        Ok(v)
    }

    pub fn raw(&self, cmd: u32) -> Result<i32, i32> {
        let mut buf = [0u8; 256];
        self.ioctl(cmd, &mut buf)
    }
}

pub fn errno_text(e: i32) -> String {
    format!("{} ({})", io::Error::from_raw_os_error(e), errno_name(e))
}

pub fn errno_name(e: i32) -> &'static str {
    match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EBADF => "EBADF",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EINVAL => "EINVAL",
        libc::ENOTTY => "ENOTTY",
        libc::ENOSPC => "ENOSPC",
        libc::E2BIG => "E2BIG",
        libc::ENOTSOCK => "ENOTSOCK",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::ENOTCONN => "ENOTCONN",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        _ => "?",
    }
}
