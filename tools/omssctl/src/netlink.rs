//! The generic netlink family `omss` (`uapi/omss.yaml`): the session and sink dumps that
//! `omssctl show` prints, and the events group that `omssctl monitor` follows. Built on
//! `neli`'s synchronous socket and message types: the family and its group are resolved
//! through the controller, dumps run request by request on the calling thread, and events
//! are read from a separate subscribed socket, polled, so that `--timeout` can end the wait.

use crate::stats::{session_state, sink_state};
use neli::{
    consts::{nl::NlmF, socket::NlFamily},
    err::SocketError,
    genl::{AttrTypeBuilder, Genlmsghdr, GenlmsghdrBuilder, NlattrBuilder},
    nl::{NlPayload, NlmsghdrBuilder},
    socket::synchronous::NlSocketHandle,
    types::{Buffer, GenlBuffer},
    utils::Groups,
};
use omss_uapi::*;
use omssctl::dev::errno_name;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

type GenlMsg = Genlmsghdr<u8, u16>;

/// The attributes of one message: every u32 and u64 one, by type (the pad left out).
#[derive(Default, Debug)]
pub struct Attrs(BTreeMap<u16, u64>);

impl Attrs {
    fn parse(p: &GenlMsg) -> Self {
        let mut m = BTreeMap::new();
        for a in p.attrs().iter() {
            let t = a.nla_type().nla_type();
            let b: &[u8] = a.nla_payload().as_ref();
            let v = match b.len() {
                4 => u64::from(u32::from_ne_bytes(b.try_into().unwrap())),
                8 => u64::from_ne_bytes(b.try_into().unwrap()),
                _ => continue,
            };
            if *t != OMSS_A_PAD {
                m.insert(*t, v);
            }
        }
        Self(m)
    }

    /// Attribute `t`, 0 if the message lacks it.
    pub fn get(&self, t: u16) -> u64 {
        self.0.get(&t).copied().unwrap_or(0)
    }

    fn u32(&self, t: u16) -> u32 {
        self.get(t) as u32
    }

    pub fn has(&self, t: u16) -> bool {
        self.0.contains_key(&t)
    }
}

fn errno_err(what: &str, errno: i32) -> String {
    format!(
        "{what}: {} ({})",
        io::Error::from_raw_os_error(errno),
        errno_name(errno)
    )
}

fn not_registered() -> String {
    format!(
        "the generic netlink family \"{OMSS_GENL_NAME}\" is not registered: is the omss module loaded?"
    )
}

/// How a request went wrong: the kernel's errno, or something else.
enum ReqErr {
    Errno(i32),
    Other(String),
}

impl ReqErr {
    fn text(self, what: &str) -> String {
        match self {
            ReqErr::Errno(e) => errno_err(what, e),
            ReqErr::Other(s) => format!("{what}: {s}"),
        }
    }
}

fn other<E: std::fmt::Display>(e: E) -> ReqErr {
    ReqErr::Other(e.to_string())
}

// The generic netlink controller (linux/genetlink.h).
const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const CTRL_ATTR_MCAST_GROUPS: u16 = 7;
const CTRL_ATTR_MCAST_GRP_NAME: u16 = 1;
const CTRL_ATTR_MCAST_GRP_ID: u16 = 2;

/// A generic netlink socket with the family resolved. Requests and their replies go one
/// at a time, from this thread: a dump is read only after the request that started it was
/// sent (a reader racing the sender can make the kernel fail the socket with EINVAL).
pub struct Family {
    sock: NlSocketHandle,
    seq: u32,
    id: u16,
    /// The family's multicast groups, by name.
    groups: Vec<(String, u32)>,
}

impl Family {
    /// Resolves the family; a clear error if it is not registered (module not loaded).
    pub fn open() -> Result<Self, String> {
        let sock = NlSocketHandle::connect(NlFamily::Generic, None, Groups::empty())
            .map_err(|e| format!("cannot open a generic netlink socket: {e}"))?;
        let mut f = Self {
            sock,
            seq: 0,
            id: 0,
            groups: Vec::new(),
        };
        let name = NlattrBuilder::default()
            .nla_type(
                AttrTypeBuilder::default()
                    .nla_type(CTRL_ATTR_FAMILY_NAME)
                    .build()
                    .map_err(|e| e.to_string())?,
            )
            .nla_payload(OMSS_GENL_NAME)
            .build()
            .map_err(|e| e.to_string())?;
        let replies = match f.request(
            GENL_ID_CTRL,
            CTRL_CMD_GETFAMILY,
            2,
            NlmF::empty(),
            vec![name],
        ) {
            Ok(r) => r,
            Err(ReqErr::Errno(libc::ENOENT)) => return Err(not_registered()),
            Err(e) => return Err(e.text("resolving the omss family")),
        };
        for p in &replies {
            let h = p.attrs().get_attr_handle();
            if let Ok(id) = h.get_attr_payload_as::<u16>(CTRL_ATTR_FAMILY_ID) {
                f.id = id;
            }
            if let Ok(gs) = h.get_nested_attributes::<u16>(CTRL_ATTR_MCAST_GROUPS) {
                for g in gs.iter() {
                    let Ok(gh) = g.get_attr_handle::<u16>() else {
                        continue;
                    };
                    let name = gh.get_attr_payload_as_with_len::<String>(CTRL_ATTR_MCAST_GRP_NAME);
                    let id = gh.get_attr_payload_as::<u32>(CTRL_ATTR_MCAST_GRP_ID);
                    if let (Ok(n), Ok(i)) = (name, id) {
                        f.groups.push((n, i));
                    }
                }
            }
        }
        if f.id == 0 {
            return Err(not_registered());
        }
        Ok(f)
    }

    /// Sends a request (`flags` beyond REQUEST and ACK, e.g. DUMP) and collects the reply
    /// messages until the dump's DONE or the ACK.
    fn request(
        &mut self,
        nl_type: u16,
        cmd: u8,
        version: u8,
        flags: NlmF,
        attrs: Vec<neli::genl::Nlattr<u16, Buffer>>,
    ) -> Result<Vec<GenlMsg>, ReqErr> {
        let mut buf = GenlBuffer::<u16, Buffer>::new();
        for a in attrs {
            buf.push(a);
        }
        let genl = GenlmsghdrBuilder::default()
            .cmd(cmd)
            .version(version)
            .attrs(buf)
            .build()
            .map_err(other)?;
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let msg = NlmsghdrBuilder::default()
            .nl_type(nl_type)
            .nl_flags(flags | NlmF::REQUEST | NlmF::ACK)
            .nl_seq(seq)
            .nl_payload(NlPayload::Payload(genl))
            .build()
            .map_err(other)?;
        self.sock.send(&msg).map_err(other)?;
        let mut out = Vec::new();
        loop {
            let (msgs, _) = self.sock.recv::<u16, GenlMsg>().map_err(other)?;
            for m in msgs {
                let m = m.map_err(other)?;
                if *m.nl_seq() != seq {
                    continue;
                }
                if *m.nl_type() == libc::NLMSG_DONE as u16 {
                    return Ok(out);
                }
                match m.nl_payload() {
                    NlPayload::Payload(p) => out.push(p.clone()),
                    NlPayload::Err(e) => return Err(ReqErr::Errno(-*e.error())),
                    NlPayload::Ack(_) | NlPayload::DumpExtAck(_) => return Ok(out),
                    NlPayload::Empty => {}
                }
            }
        }
    }

    /// The events group's id.
    fn events_group(&self) -> Result<u32, String> {
        self.groups
            .iter()
            .find(|(n, _)| n == OMSS_GENL_MCGRP_EVENTS)
            .map(|(_, id)| *id)
            .ok_or_else(|| {
                format!("the omss family has no multicast group \"{OMSS_GENL_MCGRP_EVENTS}\"")
            })
    }

    /// Runs dump `cmd` (with a session id filter if given); one `Attrs` per message.
    pub fn dump(&mut self, cmd: u8, session: Option<u32>) -> Result<Vec<Attrs>, String> {
        let name = if cmd == OMSS_CMD_SESSION_GET {
            "OMSS_CMD_SESSION_GET"
        } else {
            "OMSS_CMD_SINK_GET"
        };
        let mut attrs = Vec::new();
        if let Some(id) = session {
            let a = NlattrBuilder::default()
                .nla_type(
                    AttrTypeBuilder::default()
                        .nla_type(OMSS_A_SESSION_ID)
                        .build()
                        .map_err(|e| e.to_string())?,
                )
                .nla_payload(id)
                .build()
                .map_err(|e| e.to_string())?;
            attrs.push(a);
        }
        let replies = self
            .request(self.id, cmd, OMSS_GENL_VERSION as u8, NlmF::DUMP, attrs)
            .map_err(|e| e.text(name))?;
        Ok(replies
            .iter()
            .filter(|p| *p.cmd() == cmd)
            .map(Attrs::parse)
            .collect())
    }
}

// ---- omssctl show ----

fn policy_name(p: u32) -> &'static str {
    match p {
        OMSS_DROP_SLOWEST => "slowest",
        OMSS_DROP_TAIL => "tail",
        OMSS_DROP_RED => "red",
        _ => "?",
    }
}

fn mode_name(m: u32) -> &'static str {
    if m == OMSS_MODE_COPY {
        "copy"
    } else {
        "share"
    }
}

/// An errno's name, e.g. `ECONNRESET` (`errno N` if omssctl does not know it).
pub fn errno_label(e: u32) -> String {
    match errno_name(e as i32) {
        "?" => format!("errno {e}"),
        n => n.to_string(),
    }
}

fn sink_json(k: &Attrs) -> Value {
    json!({
        "id": k.u32(OMSS_A_SINK_ID), "state": sink_state(k.u32(OMSS_A_STATE)),
        "errno": k.u32(OMSS_A_ERRNO), "tx_packets": k.get(OMSS_A_TX_PACKETS),
        "tx_bytes": k.get(OMSS_A_TX_BYTES), "entries_lost": k.get(OMSS_A_ENTRIES_LOST),
        "lag": k.get(OMSS_A_LAG),
    })
}

fn session_json(s: &Attrs, sinks: &[&Attrs]) -> Value {
    json!({
        "id": s.u32(OMSS_A_SESSION_ID), "state": session_state(s.u32(OMSS_A_STATE)),
        "mode": mode_name(s.u32(OMSS_A_MODE)), "priority": s.u32(OMSS_A_PRIORITY),
        "drop_policy": policy_name(s.u32(OMSS_A_DROP_POLICY)),
        "parked": s.u32(OMSS_A_PARKED) != 0,
        "ring_capacity": s.u32(OMSS_A_RING_CAPACITY), "ring_fill": s.u32(OMSS_A_RING_FILL),
        "nr_sinks": s.u32(OMSS_A_NR_SINKS), "rx_packets": s.get(OMSS_A_RX_PACKETS),
        "rx_bytes": s.get(OMSS_A_RX_BYTES), "entries_dropped": s.get(OMSS_A_ENTRIES_DROPPED),
        "sinks": sinks.iter().map(|k| sink_json(k)).collect::<Vec<_>>(),
    })
}

/// `omssctl show [SESSION] [--json]`.
pub fn show(session: Option<u32>, as_json: bool) -> Result<(), String> {
    let mut fam = Family::open()?;
    let mut sessions = fam.dump(OMSS_CMD_SESSION_GET, None)?;
    if let Some(id) = session {
        sessions.retain(|s| s.u32(OMSS_A_SESSION_ID) == id);
        if sessions.is_empty() {
            return Err(format!("no session {id}"));
        }
    }
    let sinks = fam.dump(OMSS_CMD_SINK_GET, session)?;
    let of = |id: u32| -> Vec<&Attrs> {
        sinks
            .iter()
            .filter(|k| k.u32(OMSS_A_SESSION_ID) == id)
            .collect()
    };
    if as_json {
        let v: Vec<Value> = sessions
            .iter()
            .map(|s| session_json(s, &of(s.u32(OMSS_A_SESSION_ID))))
            .collect();
        println!("{}", json!({ "sessions": v }));
        return Ok(());
    }
    println!(
        "{:<7} {:<7} {:<5} {:>4} {:<7} {:<6} {:>11} {:>5} {:>10} {:>13} {:>9}",
        "SESSION",
        "STATE",
        "MODE",
        "PRIO",
        "POLICY",
        "PARKED",
        "RING",
        "SINKS",
        "RX-PKTS",
        "RX-BYTES",
        "DROPPED"
    );
    for s in &sessions {
        let id = s.u32(OMSS_A_SESSION_ID);
        println!(
            "{:<7} {:<7} {:<5} {:>4} {:<7} {:<6} {:>11} {:>5} {:>10} {:>13} {:>9}",
            id,
            session_state(s.u32(OMSS_A_STATE)),
            mode_name(s.u32(OMSS_A_MODE)),
            s.u32(OMSS_A_PRIORITY),
            policy_name(s.u32(OMSS_A_DROP_POLICY)),
            if s.u32(OMSS_A_PARKED) != 0 {
                "yes"
            } else {
                "no"
            },
            format!(
                "{}/{}",
                s.u32(OMSS_A_RING_FILL),
                s.u32(OMSS_A_RING_CAPACITY)
            ),
            s.u32(OMSS_A_NR_SINKS),
            s.get(OMSS_A_RX_PACKETS),
            s.get(OMSS_A_RX_BYTES),
            s.get(OMSS_A_ENTRIES_DROPPED)
        );
        let ks = of(id);
        if ks.is_empty() {
            continue;
        }
        println!(
            "  {:<6} {:<7} {:<12} {:>10} {:>13} {:>9} {:>7}",
            "SINK", "STATE", "ERRNO", "TX-PKTS", "TX-BYTES", "LOST", "LAG"
        );
        for k in ks {
            let e = k.u32(OMSS_A_ERRNO);
            println!(
                "  {:<6} {:<7} {:<12} {:>10} {:>13} {:>9} {:>7}",
                k.u32(OMSS_A_SINK_ID),
                sink_state(k.u32(OMSS_A_STATE)),
                if e == 0 { "-".into() } else { errno_label(e) },
                k.get(OMSS_A_TX_PACKETS),
                k.get(OMSS_A_TX_BYTES),
                k.get(OMSS_A_ENTRIES_LOST),
                k.get(OMSS_A_LAG)
            );
        }
    }
    Ok(())
}

// ---- omssctl monitor ----

/// An event's name as in `uapi/omss.yaml` (`sink-kicked`), and the word the human line
/// ends with (`kicked`).
fn event_name(e: u32) -> (&'static str, &'static str) {
    match e {
        OMSS_EVENT_SINK_FAILED => ("sink-failed", "failed"),
        OMSS_EVENT_SINK_KICKED => ("sink-kicked", "kicked"),
        OMSS_EVENT_SINK_DONE => ("sink-done", "done"),
        OMSS_EVENT_SESSION_ENDED => ("session-ended", "ended"),
        OMSS_EVENT_SESSION_FAILED => ("session-failed", "failed"),
        OMSS_EVENT_SESSION_DESTROYED => ("session-destroyed", "destroyed"),
        OMSS_EVENT_SESSION_PARKED => ("session-parked", "parked"),
        OMSS_EVENT_SESSION_ADOPTED => ("session-adopted", "adopted"),
        _ => ("unknown", "unknown event"),
    }
}

/// One event as a line: `session 3 sink 2 failed ECONNRESET`, or its JSON object.
pub fn event_line(a: &Attrs, as_json: bool) -> String {
    let ev = a.u32(OMSS_A_EVENT);
    let (name, word) = event_name(ev);
    let session = a.u32(OMSS_A_SESSION_ID);
    let errno = a.u32(OMSS_A_ERRNO);
    if as_json {
        // Fixed key order (event, session, sink, errno), as documented.
        let mut v = format!("{{\"event\":\"{name}\",\"session\":{session}");
        if a.has(OMSS_A_SINK_ID) {
            v += &format!(",\"sink\":{}", a.u32(OMSS_A_SINK_ID));
        }
        if name == "unknown" {
            v += &format!(",\"code\":{ev}");
        }
        v += &format!(",\"errno\":{errno}}}");
        return v;
    }
    let mut s = format!("session {session}");
    if a.has(OMSS_A_SINK_ID) {
        s += &format!(" sink {}", a.u32(OMSS_A_SINK_ID));
    }
    s += &format!(" {word}");
    if name == "unknown" {
        s += &format!(" {ev}");
    }
    if errno != 0 {
        s += &format!(" {}", errno_label(errno));
    }
    s
}

/// `omssctl monitor`: prints every event of the events group as it comes, until `count`
/// events were printed or `timeout` passed (both exit 0).
pub fn monitor(as_json: bool, count: Option<u64>, timeout: Option<Duration>) -> Result<(), String> {
    let fam = Family::open()?;
    let group = fam.events_group()?;
    let family = fam.id;
    // Its own socket, which receives nothing but the group's messages.
    let sock = NlSocketHandle::connect(NlFamily::Generic, None, Groups::empty())
        .map_err(|e| format!("cannot open a generic netlink socket: {e}"))?;
    sock.add_mcast_membership(Groups::new_groups(&[group]))
        .map_err(|e| format!("joining the omss events group: {e}"))?;
    drop(fam);
    eprintln!("omssctl: monitoring");
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut seen = 0u64;
    let mut out = io::stdout().lock();
    if count == Some(0) {
        return Ok(());
    }
    loop {
        let wait_ms = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(());
                }
                left.as_millis().clamp(1, i32::MAX as u128) as i32
            }
            None => -1,
        };
        let mut pfd = libc::pollfd {
            fd: sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, wait_ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("poll: {e}"));
        }
        if r == 0 {
            continue;
        }
        let (msgs, _) = match sock.recv::<u16, GenlMsg>() {
            Ok(m) => m,
            Err(SocketError::Io(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                // The socket overran: the kernel dropped events for it.
                eprintln!("omssctl: some events were lost (receive buffer overrun)");
                continue;
            }
            Err(e) => return Err(format!("receiving events: {e}")),
        };
        for m in msgs {
            let m = m.map_err(|e| format!("parsing an event: {e}"))?;
            if *m.nl_type() != family {
                continue;
            }
            let Some(p) = m.get_payload() else { continue };
            if *p.cmd() != OMSS_CMD_EVENT {
                continue;
            }
            let line = event_line(&Attrs::parse(p), as_json);
            writeln!(out, "{line}")
                .and_then(|_| out.flush())
                .map_err(|e| format!("stdout: {e}"))?;
            seen += 1;
            if count.is_some_and(|n| seen >= n) {
                return Ok(());
            }
        }
    }
}
