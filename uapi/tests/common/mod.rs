//! Shared by the uapi tests: the C header's facts (`abi_check.c` compiled and run once per
//! test binary: "NAME VALUE" lines, VALUE a number or a "quoted" string) and the Rust
//! mirror's generic netlink constants.
#![allow(dead_code)]

use omss_uapi::*;
use std::collections::BTreeMap;
use std::process::Command;
use std::sync::OnceLock;

/// Every fact `abi_check.c` prints, as text (strings without their quotes).
pub fn c_output() -> &'static BTreeMap<String, String> {
    static OUT: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    OUT.get_or_init(|| {
        let dir = env!("CARGO_MANIFEST_DIR");
        let exe = format!(
            "{}/abi_check-{}",
            env!("CARGO_TARGET_TMPDIR"),
            std::process::id()
        );
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
        let _ = std::fs::remove_file(&exe);
        assert!(out.status.success());
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let (k, v) = l.split_once(' ').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect()
    })
}

/// The numeric facts.
pub fn c_facts() -> BTreeMap<String, u64> {
    c_output()
        .iter()
        .filter(|(_, v)| !v.starts_with('"'))
        .map(|(k, v)| (k.clone(), v.parse().unwrap()))
        .collect()
}

/// The string facts, unquoted.
pub fn c_strings() -> BTreeMap<String, String> {
    c_output()
        .iter()
        .filter_map(|(k, v)| {
            let s = v.strip_prefix('"')?.strip_suffix('"')?;
            Some((k.clone(), s.to_string()))
        })
        .collect()
}

/// The generic netlink family's numeric constants (`uapi/tests/spec.rs` checks them against
/// `uapi/omss.yaml` too).
pub fn netlink_facts() -> Vec<(&'static str, u64)> {
    let mut v: Vec<(&'static str, u64)> = vec![
        ("OMSS_GENL_VERSION", OMSS_GENL_VERSION.into()),
        ("OMSS_CMD_SESSION_GET", OMSS_CMD_SESSION_GET.into()),
        ("OMSS_CMD_SINK_GET", OMSS_CMD_SINK_GET.into()),
        ("OMSS_CMD_EVENT", OMSS_CMD_EVENT.into()),
        ("OMSS_CMD_MAX", OMSS_CMD_MAX.into()),
    ];
    for (k, a) in [
        ("OMSS_A_PAD", OMSS_A_PAD),
        ("OMSS_A_SESSION_ID", OMSS_A_SESSION_ID),
        ("OMSS_A_SINK_ID", OMSS_A_SINK_ID),
        ("OMSS_A_EVENT", OMSS_A_EVENT),
        ("OMSS_A_ERRNO", OMSS_A_ERRNO),
        ("OMSS_A_STATE", OMSS_A_STATE),
        ("OMSS_A_MODE", OMSS_A_MODE),
        ("OMSS_A_PRIORITY", OMSS_A_PRIORITY),
        ("OMSS_A_DROP_POLICY", OMSS_A_DROP_POLICY),
        ("OMSS_A_PARKED", OMSS_A_PARKED),
        ("OMSS_A_RING_CAPACITY", OMSS_A_RING_CAPACITY),
        ("OMSS_A_RING_FILL", OMSS_A_RING_FILL),
        ("OMSS_A_NR_SINKS", OMSS_A_NR_SINKS),
        ("OMSS_A_RX_PACKETS", OMSS_A_RX_PACKETS),
        ("OMSS_A_RX_BYTES", OMSS_A_RX_BYTES),
        ("OMSS_A_ENTRIES_DROPPED", OMSS_A_ENTRIES_DROPPED),
        ("OMSS_A_TX_PACKETS", OMSS_A_TX_PACKETS),
        ("OMSS_A_TX_BYTES", OMSS_A_TX_BYTES),
        ("OMSS_A_ENTRIES_LOST", OMSS_A_ENTRIES_LOST),
        ("OMSS_A_LAG", OMSS_A_LAG),
        ("OMSS_A_MAX", OMSS_A_MAX),
    ] {
        v.push((k, a.into()));
    }
    for (k, e) in [
        ("OMSS_EVENT_SINK_FAILED", OMSS_EVENT_SINK_FAILED),
        ("OMSS_EVENT_SINK_KICKED", OMSS_EVENT_SINK_KICKED),
        ("OMSS_EVENT_SINK_DONE", OMSS_EVENT_SINK_DONE),
        ("OMSS_EVENT_SESSION_ENDED", OMSS_EVENT_SESSION_ENDED),
        ("OMSS_EVENT_SESSION_FAILED", OMSS_EVENT_SESSION_FAILED),
        ("OMSS_EVENT_SESSION_DESTROYED", OMSS_EVENT_SESSION_DESTROYED),
        ("OMSS_EVENT_SESSION_PARKED", OMSS_EVENT_SESSION_PARKED),
        ("OMSS_EVENT_SESSION_ADOPTED", OMSS_EVENT_SESSION_ADOPTED),
    ] {
        v.push((k, e.into()));
    }
    v
}

/// The family's string constants.
pub fn netlink_strings() -> Vec<(&'static str, &'static str)> {
    vec![
        ("OMSS_GENL_NAME", OMSS_GENL_NAME),
        ("OMSS_GENL_MCGRP_EVENTS", OMSS_GENL_MCGRP_EVENTS),
    ]
}
