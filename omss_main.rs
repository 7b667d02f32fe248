// SPDX-License-Identifier: GPL-2.0

//! OMSS: one-to-many streaming splicing, an in-kernel 1-to-N streaming relay.
//!
//! A streaming server hands a source socket and many sink sockets to `/dev/omss`; the
//! kernel then relays the stream from the source to every sink.

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
    _device: shim::MiscDevice<relay::Engine>,
}

impl kernel::Module for OmssModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let engine = relay::Engine::new()?;
        let device = shim::MiscDevice::register(engine)?;
        pr_info!("loaded, ABI version {}\n", uapi::OMSS_ABI_VERSION);
        Ok(Self { _device: device })
    }
}

impl Drop for OmssModule {
    fn drop(&mut self) {
        pr_info!("unloaded\n");
    }
}
