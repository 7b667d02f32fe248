//! Helpers shared by the guest stress and fuzz programs: TAP output, a seeded RNG, errno
//! names, command-line parsing and the final leak check.
#![allow(dead_code)]

use omss_uapi::{OmssEngineStats, OMSS_DEVICE};
use omssctl::dev::Device;
use std::io::Write;
use std::time::{Duration, Instant};

/// TAP 13 results, numbered in order.
pub struct Tap {
    pub n: u32,
    pub failed: u32,
}

impl Tap {
    pub fn new(plan: u32) -> Self {
        println!("TAP version 13");
        println!("1..{plan}");
        flush();
        Self { n: 0, failed: 0 }
    }

    pub fn ok(&mut self, desc: &str, cond: bool) {
        self.n += 1;
        if !cond {
            self.failed += 1;
        }
        println!("{}ok {} {desc}", if cond { "" } else { "not " }, self.n);
        flush();
    }
}

pub fn diag(s: &str) {
    println!("# {s}");
}

pub fn flush() {
    let _ = std::io::stdout().flush();
}

/// xorshift64*: small, fast, good enough to pick operations; one per thread.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so nearby seeds give unrelated streams (and never 0).
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self(if z == 0 { 1 } else { z })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() >> 32) * n) >> 32
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `pct` percent.
    pub fn pct(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }

    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for c in buf.chunks_mut(8) {
            let r = self.next_u64().to_le_bytes();
            c.copy_from_slice(&r[..c.len()]);
        }
    }

    /// Index into `weights`, chosen in proportion to them.
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut r = self.below(total as u64) as u32;
        for (i, &w) in weights.iter().enumerate() {
            if r < w {
                return i;
            }
            r -= w;
        }
        weights.len() - 1
    }
}

/// The errno of the last failed libc call.
pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Short name of an errno, for histograms and messages.
pub fn ename(e: i32) -> String {
    let s = match e {
        0 => "ok",
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EXDEV => "EXDEV",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ENOTTY => "ENOTTY",
        libc::ENOSPC => "ENOSPC",
        libc::ERANGE => "ERANGE",
        libc::E2BIG => "E2BIG",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::ENOTSOCK => "ENOTSOCK",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ENOTCONN => "ENOTCONN",
        libc::ENOSYS => "ENOSYS",
        // Kernel-internal "no such ioctl"; it must never reach user space.
        515 => "ENOIOCTLCMD",
        _ => return format!("errno{e}"),
    };
    s.to_string()
}

/// Command-line arguments as `--key value` pairs (and bare `--flag`s).
pub struct Args {
    pairs: Vec<(String, Option<String>)>,
}

impl Args {
    /// Parses `--key value` / `--key=value` / `--flag`; `flags` lists the bare flags.
    pub fn parse(flags: &[&str]) -> Result<Self, String> {
        let mut pairs = Vec::new();
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            let Some(k) = a.strip_prefix("--") else {
                return Err(format!("unexpected argument '{a}'"));
            };
            if let Some((k, v)) = k.split_once('=') {
                pairs.push((k.to_string(), Some(v.to_string())));
            } else if flags.contains(&k) {
                pairs.push((k.to_string(), None));
            } else {
                let v = it.next().ok_or_else(|| format!("--{k} needs a value"))?;
                pairs.push((k.to_string(), Some(v)));
            }
        }
        Ok(Self { pairs })
    }

    pub fn flag(&self, k: &str) -> bool {
        self.pairs.iter().any(|(key, _)| key == k)
    }

    /// Every value given for `--k`.
    pub fn all(&self, k: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(key, _)| key == k)
            .filter_map(|(_, v)| v.clone())
            .collect()
    }

    /// The last value of `--k` parsed as `T`, or `default`.
    pub fn get<T: std::str::FromStr>(&self, k: &str, default: T) -> Result<T, String> {
        match self.all(k).last() {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("--{k}: bad value '{v}'")),
        }
    }

    /// Fails on any key not in `known`.
    pub fn check_known(&self, known: &[&str]) -> Result<(), String> {
        match self
            .pairs
            .iter()
            .find(|(k, _)| !known.contains(&k.as_str()))
        {
            Some((k, _)) => Err(format!("unknown option --{k}")),
            None => Ok(()),
        }
    }
}

/// Reads the module-wide counters on a fresh `/dev/omss` until no session, entry or page is
/// left, for up to `wait`; returns the last reading and whether it was clean.
pub fn engine_drained(wait: Duration) -> (Result<OmssEngineStats, String>, bool) {
    let start = Instant::now();
    loop {
        let r = Device::open(OMSS_DEVICE).and_then(|d| {
            d.engine_stats()
                .map_err(|e| format!("OMSS_IOC_ENGINE_STATS: {}", ename(e)))
        });
        let clean =
            matches!(&r, Ok(s) if s.sessions == 0 && s.entries_live == 0 && s.pages_live == 0);
        if clean || start.elapsed() >= wait {
            return (r, clean);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn engine_text(s: &OmssEngineStats) -> String {
    format!(
        "sessions={} entries_live={} pages_live={} workers={} idle={} tasks_run={}",
        s.sessions, s.entries_live, s.pages_live, s.workers, s.workers_idle, s.tasks_run
    )
}

/// The closing case of a run, once everything was closed: nothing is left module-wide
/// (waiting up to 2 s); then the exit code of the whole run.
pub fn finish_drained(t: &mut Tap) -> std::process::ExitCode {
    let (r, clean) = engine_drained(Duration::from_secs(2));
    let what = match &r {
        Ok(s) => engine_text(s),
        Err(e) => e.clone(),
    };
    diag(&format!("after close: {what}"));
    t.ok(
        &format!("all closed: no session, entry or page left module-wide ({what})"),
        clean,
    );
    if t.failed == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
