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
    pub fn ioctl<T>(&self, cmd: u32, arg: &mut T) -> Result<i32, i32> {
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

    /// Creates a session with the module's defaults for everything ABI 3 added; returns its
    /// id.
    pub fn create(&self, priority: u32, mode: u32, ring: u32) -> Result<u32, i32> {
        let mut a = OmssSessionCreate {
            priority,
            mode,
            ring_entries: ring,
            ..OmssSessionCreate::request()
        };
        self.create_with(&mut a).map(|(id, _)| id)
    }

    /// Creates a session from a full ABI 3 request (limits, drop policy, persistence);
    /// `a.size` is set if it is 0. Returns the new session's id and its token (0 unless
    /// `OMSS_SESSION_PERSIST`); both are also left in `a`.
    pub fn create_with(&self, a: &mut OmssSessionCreate) -> Result<(u32, u64), i32> {
        if a.size == 0 {
            a.size = std::mem::size_of::<OmssSessionCreate>() as u32;
        }
        self.ioctl(OMSS_IOC_SESSION_CREATE, a)?;
        Ok((a.session_id, a.token))
    }

    /// Adopts parked session `session_id` (a persistent one whose file was closed) with its
    /// token: it becomes this file's. ENOENT: no such session is parked; EPERM: wrong token.
    pub fn adopt(&self, session_id: u32, token: u64) -> Result<(), i32> {
        let mut a = OmssSessionAdopt {
            session_id,
            token,
            ..OmssSessionAdopt::request()
        };
        self.ioctl(OMSS_IOC_SESSION_ADOPT, &mut a).map(drop)
    }

    pub fn set_source(&self, session_id: u32, fd: i32) -> Result<(), i32> {
        let mut a = OmssSourceSet {
            session_id,
            fd,
            ..OmssSourceSet::request()
        };
        self.ioctl(OMSS_IOC_SOURCE_SET, &mut a).map(drop)
    }

    /// Adds a sink with the session's limits; returns its id.
    pub fn add_sink(&self, session_id: u32, fd: i32) -> Result<u32, i32> {
        self.add_sink_with(session_id, fd, OmssLimits::default())
    }

    /// Adds a sink with its own limits (a field 0 takes the session's value,
    /// `OMSS_LIMIT_NONE` is none); returns its id.
    pub fn add_sink_with(&self, session_id: u32, fd: i32, limits: OmssLimits) -> Result<u32, i32> {
        let mut a = OmssSinkAdd {
            session_id,
            fd,
            limits,
            ..OmssSinkAdd::request()
        };
        self.ioctl(OMSS_IOC_SINK_ADD, &mut a)?;
        Ok(a.sink_id)
    }

    pub fn remove_sink(&self, session_id: u32, sink_id: u32) -> Result<(), i32> {
        let mut a = OmssTarget {
            session_id,
            sink_id,
            ..OmssTarget::request()
        };
        self.ioctl(OMSS_IOC_SINK_REMOVE, &mut a).map(drop)
    }

    pub fn destroy(&self, session_id: u32) -> Result<(), i32> {
        let mut a = OmssTarget {
            session_id,
            ..OmssTarget::request()
        };
        self.ioctl(OMSS_IOC_SESSION_DESTROY, &mut a).map(drop)
    }

    /// Session stats and up to `max_sinks` sinks' stats.
    pub fn stats(
        &self,
        session_id: u32,
        max_sinks: usize,
    ) -> Result<(OmssSessionStats, Vec<OmssSinkStats>), i32> {
        let mut sinks = vec![OmssSinkStats::default(); max_sinks];
        let mut a = OmssSessionStats {
            session_id,
            sinks_cap: max_sinks as u32,
            sinks_ptr: if max_sinks == 0 {
                0
            } else {
                sinks.as_mut_ptr() as u64
            },
            ..OmssSessionStats::request()
        };
        self.ioctl(OMSS_IOC_SESSION_STATS, &mut a)?;
        sinks.truncate((a.nr_sinks as usize).min(max_sinks));
        Ok((a, sinks))
    }

    /// Session stats and every sink's (as many as the session has, `nr_sinks`).
    pub fn stats_all(
        &self,
        session_id: u32,
    ) -> Result<(OmssSessionStats, Vec<OmssSinkStats>), i32> {
        let mut cap = 64;
        loop {
            let (s, k) = self.stats(session_id, cap)?;
            if (s.nr_sinks as usize) <= cap {
                return Ok((s, k));
            }
            // Sinks were added meanwhile: room for them and some more.
            cap = s.nr_sinks as usize + 64;
        }
    }

    /// Module-wide counters.
    pub fn engine_stats(&self) -> Result<OmssEngineStats, i32> {
        let mut a = OmssEngineStats::request();
        self.ioctl(OMSS_IOC_ENGINE_STATS, &mut a)?;
        Ok(a)
    }

    /// Pauses (`true`) or resumes the engine's workers; a pause ends with this file.
    pub fn pause(&self, on: bool) -> Result<(), i32> {
        let mut a = OmssEnginePause::request();
        a.paused = on as u32;
        self.ioctl(OMSS_IOC_ENGINE_PAUSE, &mut a).map(|_| ())
    }

    pub fn raw(&self, cmd: u32) -> Result<i32, i32> {
        let mut buf = [0u8; 256];
        self.ioctl(cmd, &mut buf)
    }
}

impl AsRawFd for Device {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.file.as_raw_fd()
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
        libc::EIO => "EIO",
        libc::ENOMEM => "ENOMEM",
        libc::EPIPE => "EPIPE",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::ECONNABORTED => "ECONNABORTED",
        libc::ECONNRESET => "ECONNRESET",
        libc::ENOBUFS => "ENOBUFS",
        libc::ESHUTDOWN => "ESHUTDOWN",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        _ => "?",
    }
}
