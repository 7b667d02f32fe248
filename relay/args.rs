// SPDX-License-Identifier: GPL-2.0

//! Checks of ioctl arguments and module parameters. Pure logic: no kernel types, so it is
//! also unit-tested on the host (`tests/host`).

/// Why an argument was refused; the kernel side maps each to an errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ArgError {
    /// Bad size, version, reserved field, value or socket state: `EINVAL`.
    Invalid,
    /// A value is past its limit: `E2BIG`.
    TooBig,
    /// Not a TCP or UDP socket over IPv4/IPv6: `EPROTONOSUPPORT`.
    ProtoNotSupported,
    /// The socket is already used by a session or another kernel user: `EBUSY`.
    Busy,
    /// The sink is already in this session: `EEXIST`.
    Exists,
    /// An upper layer protocol (kTLS, ...) owns the socket's callbacks: `EOPNOTSUPP`.
    NotSupported,
}

/// Largest number of sessions on one open `/dev/omss`.
pub(crate) const MAX_SESSIONS: usize = 256;
/// Largest number of sinks in one session.
pub(crate) const MAX_SINKS: usize = 16384;
/// Priority classes.
pub(crate) const NR_CLASSES: u32 = 8;
/// Session modes, as in `omss.h`.
pub(crate) const MODE_SHARE: u32 = 0;
/// A private copy per sink.
pub(crate) const MODE_COPY: u32 = 1;

/// `OMSS_SESSION_PERSIST`.
pub(crate) const FLAG_PERSIST: u32 = 1;
/// Longest time a persistent session stays parked, in ms.
pub(crate) const PERSIST_MAX_MS: u32 = 3_600_000;
/// The last drop policy, `OMSS_DROP_RED`.
pub(crate) const DROP_POLICY_MAX: u32 = 2;
/// `OMSS_LIMIT_NONE`.
pub(crate) const LIMIT_NONE: u32 = u32::MAX;

/// Checks the ABI 3 fields of `OMSS_IOC_SESSION_CREATE`: a persistent session (`flags`)
/// needs a park time of 1 ms to [`PERSIST_MAX_MS`], another one none; the drop policy must
/// be known. Returns the park time, if persistent.
pub(crate) fn check_persist(
    flags: u32,
    persist_ms: u32,
    policy: u32,
) -> Result<Option<u32>, ArgError> {
    if policy > DROP_POLICY_MAX {
        return Err(ArgError::Invalid);
    }
    match (flags & FLAG_PERSIST != 0, persist_ms) {
        (false, 0) => Ok(None),
        (true, 1..=PERSIST_MAX_MS) => Ok(Some(persist_ms)),
        _ => Err(ArgError::Invalid),
    }
}

/// Largest entry of a TCP source, in bytes (`OMSS_ENTRY_MAX`).
pub(crate) const ENTRY_MAX: u32 = 16384;
/// Smallest fixed entry (`datagram_size`), in bytes (`OMSS_ENTRY_MIN`): each entry takes a
/// page at least.
pub(crate) const ENTRY_MIN: u32 = 64;

/// Checks a TCP source's framing (`record_size`, `datagram_size`; 0 is none) and returns
/// the fixed size of its entries, if any: the datagram size, or as many whole records as fit
/// in [`ENTRY_MAX`].
pub(crate) fn entry_size(record: u32, datagram: u32) -> Result<Option<u32>, ArgError> {
    if record > ENTRY_MAX || datagram > ENTRY_MAX {
        return Err(ArgError::TooBig);
    }
    if datagram != 0 && datagram < ENTRY_MIN {
        return Err(ArgError::Invalid);
    }
    match (record, datagram) {
        (0, 0) => Ok(None),
        (0, d) => Ok(Some(d)),
        (r, 0) => Ok(Some(ENTRY_MAX / r * r)),
        (r, d) if d % r == 0 => Ok(Some(d)),
        _ => Err(ArgError::Invalid),
    }
}

/// A sink's limits (`struct omss_limits`) once resolved; `None` is "no limit".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) burst_entries: Option<u32>,
    pub(crate) burst_ms: Option<u32>,
    pub(crate) soft_entries: Option<u32>,
    pub(crate) soft_ms: Option<u32>,
    pub(crate) hard_entries: Option<u32>,
    pub(crate) hard_ms: Option<u32>,
}

impl Limits {
    /// A session's defaults, the ABI's six fields in order: 0 (or `OMSS_LIMIT_NONE`) is none.
    pub(crate) fn session(raw: [u32; 6]) -> Self {
        let f = |v: u32| (v != 0 && v != LIMIT_NONE).then_some(v);
        Self::from_fn(raw, |_, v| f(v))
    }

    /// A sink's: 0 takes the session's value, `OMSS_LIMIT_NONE` is none.
    pub(crate) fn sink(session: &Self, raw: [u32; 6]) -> Self {
        let def = session.fields();
        Self::from_fn(raw, |i, v| match v {
            0 => def[i],
            LIMIT_NONE => None,
            v => Some(v),
        })
    }

    fn from_fn(raw: [u32; 6], f: impl Fn(usize, u32) -> Option<u32>) -> Self {
        let v: [Option<u32>; 6] = core::array::from_fn(|i| f(i, raw[i]));
        Self {
            burst_entries: v[0],
            burst_ms: v[1],
            soft_entries: v[2],
            soft_ms: v[3],
            hard_entries: v[4],
            hard_ms: v[5],
        }
    }

    fn fields(&self) -> [Option<u32>; 6] {
        [
            self.burst_entries,
            self.burst_ms,
            self.soft_entries,
            self.soft_ms,
            self.hard_entries,
            self.hard_ms,
        ]
    }

    /// Checks the order of the limits in each unit: a burst below the soft lag limit, which
    /// is below the hard one (else a new sink would be kicked, or jump, at once).
    pub(crate) fn check(self) -> Result<Self, ArgError> {
        let below = |a: Option<u32>, b: Option<u32>| a.zip(b).is_none_or(|(a, b)| a < b);
        let ok = below(self.burst_entries, self.soft_entries)
            && below(self.soft_entries, self.hard_entries)
            && below(self.burst_entries, self.hard_entries)
            && below(self.burst_ms, self.soft_ms)
            && below(self.soft_ms, self.hard_ms)
            && below(self.burst_ms, self.hard_ms);
        if ok {
            Ok(self)
        } else {
            Err(ArgError::Invalid)
        }
    }

    /// Entries a session with these defaults keeps for late joiners: its burst in entries,
    /// or everything the ring holds for a burst in time.
    pub(crate) fn retain(&self, capacity: u32) -> u32 {
        match (self.burst_entries, self.burst_ms) {
            (_, Some(_)) => capacity,
            (Some(n), None) => n.min(capacity),
            (None, None) => 0,
        }
    }
}

/// Whether a lag of `entries` and `ms` (the age of the oldest entry still to send) is past
/// the limits `entries_max` and `ms_max` (each `None` for none).
pub(crate) fn lag_over(
    entries: u64,
    ms: u64,
    entries_max: Option<u32>,
    ms_max: Option<u32>,
) -> bool {
    entries_max.is_some_and(|m| entries > u64::from(m)) || ms_max.is_some_and(|m| ms > u64::from(m))
}

/// Checks `OMSS_IOC_SESSION_CREATE` fields; returns the ring capacity to use.
pub(crate) fn check_create(
    flags: u32,
    priority: u32,
    mode: u32,
    ring: u32,
    p: &ParamValues,
) -> Result<u32, ArgError> {
    if flags & !FLAG_PERSIST != 0
        || priority >= NR_CLASSES
        || (mode != MODE_SHARE && mode != MODE_COPY)
    {
        return Err(ArgError::Invalid);
    }
    match ring {
        0 => Ok(p.ring_default),
        1 => Err(ArgError::Invalid),
        r if r > p.ring_max => Err(ArgError::TooBig),
        r => Ok(r),
    }
}

/// The facts about a socket that decide whether OMSS takes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SockFacts {
    pub(crate) family: u16,
    pub(crate) sock_type: u16,
    pub(crate) protocol: u16,
    pub(crate) state: u8,
    pub(crate) bound: bool,
    pub(crate) owned: bool,
    pub(crate) ulp: bool,
}

/// Transport of an accepted socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Proto {
    /// A connected TCP socket.
    Tcp,
    /// A UDP socket.
    Udp,
}

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const SOCK_STREAM: u16 = 1;
const SOCK_DGRAM: u16 = 2;
const IPPROTO_TCP: u16 = 6;
const IPPROTO_UDP: u16 = 17;
const TCP_ESTABLISHED: u8 = 1;
const TCP_CLOSE_WAIT: u8 = 8;

/// Accepts a source (`sink == false`: connected TCP or bound UDP) or a sink (connected TCP
/// or connected UDP). A TCP sink whose peer has already shut down its sending side
/// (`CLOSE_WAIT`: a client that sent its request and half-closed) can still be written to.
pub(crate) fn check_socket(f: &SockFacts, sink: bool) -> Result<Proto, ArgError> {
    if f.family != AF_INET && f.family != AF_INET6 {
        return Err(ArgError::ProtoNotSupported);
    }
    let proto = match (f.sock_type, f.protocol) {
        (SOCK_STREAM, IPPROTO_TCP) => Proto::Tcp,
        (SOCK_DGRAM, IPPROTO_UDP) => Proto::Udp,
        _ => return Err(ArgError::ProtoNotSupported),
    };
    let ready = match proto {
        Proto::Udp if !sink => f.bound,
        Proto::Tcp if sink => f.state == TCP_ESTABLISHED || f.state == TCP_CLOSE_WAIT,
        _ => f.state == TCP_ESTABLISHED,
    };
    if !ready {
        return Err(ArgError::Invalid);
    }
    if f.owned {
        return Err(ArgError::Busy);
    }
    if f.ulp {
        return Err(ArgError::NotSupported);
    }
    Ok(proto)
}

/// What a failed send or receive means for the relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrKind {
    /// No room or no data now (`EAGAIN`): wait for the socket's callback.
    Again,
    /// This packet failed, the socket is fine: count it and go on. A UDP sink skips the
    /// entry; a TCP sink keeps it and retries on the next wakeup (a byte stream cannot skip).
    Transient,
    /// The socket is unusable: fail it.
    Fatal,
}

const EPERM: i32 = 1;
const EINTR: i32 = 4;
const EAGAIN: i32 = 11;
const ENOMEM: i32 = 12;
const EMSGSIZE: i32 = 90;
const ENETDOWN: i32 = 100;
const ENETUNREACH: i32 = 101;
const ENOBUFS: i32 = 105;
const ECONNREFUSED: i32 = 111;
const EHOSTDOWN: i32 = 112;
const EHOSTUNREACH: i32 = 113;
const ERESTARTSYS: i32 = 512;

/// Classifies `errno` (positive) from a socket of `proto`. Memory shortage is transient for
/// both; for UDP so is everything ICMP or routing reports about one datagram (a subscriber
/// briefly gone answers with port unreachable, `ECONNREFUSED`), or a firewall's drop (`EPERM`).
pub(crate) fn classify(errno: i32, proto: Proto) -> ErrKind {
    match (errno, proto) {
        (EAGAIN, _) => ErrKind::Again,
        (ENOMEM | ENOBUFS | EINTR | ERESTARTSYS, _) => ErrKind::Transient,
        (
            ECONNREFUSED | EHOSTUNREACH | ENETUNREACH | EHOSTDOWN | ENETDOWN | EPERM | EMSGSIZE,
            Proto::Udp,
        ) => ErrKind::Transient,
        _ => ErrKind::Fatal,
    }
}

/// Largest ring capacity the module accepts as a parameter.
pub(crate) const RING_LIMIT: u32 = 1 << 16;
/// Hard cap on worker threads.
pub(crate) const WORKERS_LIMIT: u32 = 1024;

/// An argument struct's `size` must equal the size this module knows, and its reserved
/// fields must be zero.
pub(crate) fn check_header(size: u32, expected: usize, reserved: &[u32]) -> Result<(), ArgError> {
    if size as usize != expected || reserved.iter().any(|&r| r != 0) {
        return Err(ArgError::Invalid);
    }
    Ok(())
}

/// Module parameters as given at load time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ParamValues {
    pub(crate) ring_default: u32,
    pub(crate) ring_max: u32,
    pub(crate) workers: u32,
    pub(crate) workers_max: u32,
}

/// Validates the parameters; a ring needs at least 2 entries.
pub(crate) fn check_params(p: &ParamValues) -> Result<(), ArgError> {
    if p.ring_max > RING_LIMIT || p.workers_max > WORKERS_LIMIT {
        return Err(ArgError::TooBig);
    }
    if p.ring_default < 2
        || p.ring_default > p.ring_max
        || p.workers_max == 0
        || p.workers > p.workers_max
    {
        return Err(ArgError::Invalid);
    }
    Ok(())
}

/// A sink socket that fails the checks as busy because this very session has it already
/// is `EEXIST`, not `EBUSY`.
pub(crate) fn sink_conflict(
    checked: Result<Proto, ArgError>,
    in_this_session: bool,
) -> Result<Proto, ArgError> {
    match checked {
        Err(ArgError::Busy) if in_this_session => Err(ArgError::Exists),
        r => r,
    }
}

/// Ids handed out in order from 1 and never reused (a stale id must not name a new session
/// or sink); once the last one, `u32::MAX`, is out, there are no more.
#[derive(Debug)]
pub(crate) struct Ids {
    next: Option<u32>,
}

impl Ids {
    /// Ids from `first` (1 in the module; tests start near the end).
    pub(crate) const fn starting_at(first: u32) -> Self {
        Self { next: Some(first) }
    }

    /// The next id, or `None` when they ran out.
    pub(crate) fn take(&mut self) -> Option<u32> {
        let id = self.next?;
        self.next = id.checked_add(1);
        Some(id)
    }
}
