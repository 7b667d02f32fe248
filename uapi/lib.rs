//! Rust mirror of `uapi/omss.h`, the `/dev/omss` ioctl ABI, for user-space tools.
//!
//! The kernel module includes `omss.rs` directly, so both sides share one definition.
#![no_std]

#[path = "omss.rs"]
mod omss;
pub use omss::*;
