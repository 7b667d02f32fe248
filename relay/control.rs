// SPDX-License-Identifier: GPL-2.0

//! One open `/dev/omss`: decodes ioctls and checks their arguments.

use super::{args::check_header, Engine};
use crate::{shim, uapi};
use core::mem::size_of;
use kernel::{
    prelude::*,
    sync::Arc,
    types::{AsBytes, FromBytes},
    uaccess::UserSlice,
};

/// Priority classes a session may use (class 0 is the lowest).
pub(crate) const NR_CLASSES: u32 = 8;

// SAFETY: `OmssVersion` is `repr(C)`, made only of `u32`s, with no padding: any bytes are valid.
unsafe impl FromBytes for uapi::OmssVersion {}
// SAFETY: as above, and it has no padding bytes that could leak kernel memory.
unsafe impl AsBytes for uapi::OmssVersion {}

/// State of one open file of `/dev/omss`.
pub(crate) struct ControlFile {
    engine: Arc<Engine>,
}

impl ControlFile {
    /// Opens the control file; needs `CAP_NET_ADMIN`.
    pub(crate) fn open(engine: Arc<Engine>) -> Result<Arc<Self>> {
        if !shim::capable_net_admin() {
            return Err(EPERM);
        }
        Ok(Arc::new(Self { engine }, GFP_KERNEL)?)
    }

    /// Dispatches one ioctl; unknown commands get `ENOTTY`.
    pub(crate) fn ioctl(&self, cmd: u32, arg: usize) -> Result<i64> {
        match cmd {
            uapi::OMSS_IOC_VERSION => self.version(arg),
            _ => Err(ENOTTY),
        }
    }

    fn version(&self, arg: usize) -> Result<i64> {
        let (mut reader, mut writer) =
            UserSlice::new(arg, size_of::<uapi::OmssVersion>()).reader_writer();
        let mut v: uapi::OmssVersion = reader.read()?;
        check_header(v.size, size_of::<uapi::OmssVersion>(), &v.reserved)?;
        v.abi_version = uapi::OMSS_ABI_VERSION;
        v.nr_classes = NR_CLASSES;
        v.ring_default = self.engine.params.ring_default;
        v.ring_max = self.engine.params.ring_max;
        writer.write(&v)?;
        Ok(0)
    }
}
