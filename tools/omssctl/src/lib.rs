//! The `/dev/omss` device wrapper, shared by `omssctl` and the guest tests.
pub mod dev;
