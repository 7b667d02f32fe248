//! OMSS media emulators: shared library of `omss-server` and `omss-client`.
//!
//! - [`wire`]: the frame format (header, CRC-32C checksum, body pattern) and
//!   the resynchronising TCP stream parser.
//! - [`stats`]: exact per-subscriber accounting (loss, reorder, duplicates,
//!   latency percentiles) and per-subscriber report rows.
//! - [`report`]: totals, pass/fail checks and the human table.
//! - [`sys`]: small OS helpers (monotonic clock, rlimits, signals, ports).
//! - [`pace`]: the server's schedule and fault-injection plan.
//! - [`fanout`]: the server's per-peer TCP send queue.
//! - [`http`]: the client's HTTP mode (URL, request, response header check).
//! - [`icecast`]: the server's Icecast source mode (source request, answer check).

pub mod fanout;
pub mod http;
pub mod icecast;
pub mod pace;
pub mod report;
pub mod stats;
pub mod sys;
pub mod wire;
