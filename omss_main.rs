// SPDX-License-Identifier: GPL-2.0

//! OMSS: one-to-many streaming splicing, an in-kernel 1-to-N streaming relay.
//!
//! A streaming server hands a source socket and many sink sockets to `/dev/omss`; the
//! kernel then relays the stream from the source to every sink.

// `pin_init!` of a session's many fields expands deeply.
#![recursion_limit = "256"]

use kernel::prelude::*;

mod buffer;
mod relay;
mod sched;
mod shim;
#[path = "uapi/omss.rs"]
#[expect(
    dead_code,
    unreachable_pub,
    reason = "the ABI mirror is shared with user space and defines more than the module uses"
)]
mod uapi;

module! {
    type: OmssModule,
    name: "omss",
    author: "OMSS developers",
    description: "One-to-many streaming splicing: in-kernel 1-to-N stream relay",
    license: "GPL",
}

struct OmssModule {
    // Dropped in this order: no dump or event after the family is gone, then the device
    // (and with it the engine, whose last sessions are destroyed).
    _netlink: shim::netlink::Netlink<relay::registry::Registry>,
    _device: shim::MiscDevice<relay::Engine>,
}

impl kernel::Module for OmssModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let engine = relay::Engine::new()?;
        let registry = engine.registry.clone();
        let device = shim::MiscDevice::register(engine)?;
        // Last, so that no dump can start while a later step could still fail the load.
        let netlink = shim::netlink::Netlink::register(registry)?;
        pr_info!("loaded, ABI version {}\n", uapi::OMSS_ABI_VERSION);
        Ok(Self {
            _netlink: netlink,
            _device: device,
        })
    }
}

impl Drop for OmssModule {
    fn drop(&mut self) {
        pr_info!("unloaded\n");
    }
}
