//! Compiles a C program from `uapi/omss.h` and checks that every size, offset and ioctl
//! number it prints agrees with the Rust mirror.

use omss_uapi::*;
use std::collections::BTreeMap;
use std::mem::{offset_of, size_of, size_of_val};
use std::process::Command;

fn c_facts() -> BTreeMap<String, u64> {
    let dir = env!("CARGO_MANIFEST_DIR");
    let exe = format!("{}/abi_check", env!("CARGO_TARGET_TMPDIR"));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let st = Command::new(&cc)
        .args([
            "-Wall",
            "-Werror",
            "-o",
            &exe,
            &format!("{dir}/tests/abi_check.c"),
        ])
        .status()
        .expect("run the C compiler");
    assert!(st.success(), "abi_check.c failed to compile");
    let out = Command::new(&exe).output().expect("run abi_check");
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

macro_rules! field {
    ($m:ident, $cname:literal, $t:ty, $f:ident) => {{
        let v = <$t>::default();
        $m.insert(
            concat!($cname, ".", stringify!($f), ".offset").into(),
            offset_of!($t, $f) as u64,
        );
        $m.insert(
            concat!($cname, ".", stringify!($f), ".size").into(),
            size_of_val(&v.$f) as u64,
        );
    }};
}

fn rust_facts() -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    m.insert("OMSS_ABI_VERSION".into(), OMSS_ABI_VERSION.into());
    m.insert("OMSS_IOC_MAGIC".into(), OMSS_IOC_MAGIC.into());
    m.insert("OMSS_IOC_VERSION".into(), OMSS_IOC_VERSION.into());
    m.insert(
        "omss_version.size_of".into(),
        size_of::<OmssVersion>() as u64,
    );
    field!(m, "omss_version", OmssVersion, size);
    field!(m, "omss_version", OmssVersion, abi_version);
    field!(m, "omss_version", OmssVersion, nr_classes);
    field!(m, "omss_version", OmssVersion, ring_default);
    field!(m, "omss_version", OmssVersion, ring_max);
    field!(m, "omss_version", OmssVersion, reserved);
    m
}

#[test]
fn c_and_rust_agree() {
    let c = c_facts();
    let r = rust_facts();
    assert_eq!(
        c.keys().collect::<Vec<_>>(),
        r.keys().collect::<Vec<_>>(),
        "the C check and the Rust table list different facts"
    );
    for (k, cv) in &c {
        assert_eq!(
            Some(cv),
            r.get(k),
            "{k}: C says {cv}, Rust says {:?}",
            r.get(k)
        );
    }
}

#[test]
fn request_sets_size() {
    assert_eq!(
        OmssVersion::request().size as usize,
        size_of::<OmssVersion>()
    );
}
