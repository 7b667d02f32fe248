//! User-space relay baselines that the OMSS in-kernel relay is benchmarked against.
//!
//! Two binaries share this library:
//!
//! * `omss-daemon`: the "Daemon" of the paper. One thread receives from the source into a
//!   shared ring of packets; the other threads each own a static share of the sinks and call
//!   `send()`/`write()` once per sink per packet.
//! * `omss-epoll-relay`: the best user-space relay we can honestly write: non-blocking
//!   sockets, one epoll loop per core, `recvmmsg`/`readv` batches from the source,
//!   `sendmmsg` to many UDP subscribers per call and `writev` of all pending packets per TCP
//!   subscriber.
//!
//! Both take the same command line (see [`args::Args`]), which mirrors `omssctl relay`, and
//! print the same summary (see [`stats::Report`]).
//!
//! The pieces here: [`args`] (the CLI and the stop policy), [`net`] (opening the source and
//! the sinks), [`ring`] (the shared packet ring), [`stats`] (counters and the JSON summary)
//! and [`sys`] (thin wrappers over the Linux syscalls that std does not expose).

pub mod args;
pub mod net;
pub mod ring;
pub mod stats;
pub mod sys;

pub use args::{Args, StopClock};
pub use net::{Sinks, Source};
pub use ring::{Packet, PacketPool, Pkt, Ring, View};
pub use stats::{Report, Stats};
