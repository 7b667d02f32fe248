//! Compiles a C program from `uapi/omss.h` and checks that every size, offset and ioctl
//! number it prints agrees with the Rust mirror, and so do the generic netlink family's
//! constants (name, version, commands, attributes, events, multicast group).

use omss_uapi::*;
use std::collections::BTreeMap;
use std::mem::{offset_of, size_of, size_of_val};

mod common;
use common::{c_facts, c_strings, netlink_facts, netlink_strings};

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
    for (k, v) in [
        ("OMSS_NR_CLASSES", OMSS_NR_CLASSES),
        ("OMSS_MODE_SHARE", OMSS_MODE_SHARE),
        ("OMSS_MODE_COPY", OMSS_MODE_COPY),
        ("OMSS_SESSION_IDLE", OMSS_SESSION_IDLE),
        ("OMSS_SESSION_RUNNING", OMSS_SESSION_RUNNING),
        ("OMSS_SESSION_ENDED", OMSS_SESSION_ENDED),
        ("OMSS_SESSION_FAILED", OMSS_SESSION_FAILED),
        ("OMSS_SINK_ACTIVE", OMSS_SINK_ACTIVE),
        ("OMSS_SINK_FAILED", OMSS_SINK_FAILED),
        ("OMSS_SINK_DONE", OMSS_SINK_DONE),
        ("OMSS_IOC_SESSION_CREATE", OMSS_IOC_SESSION_CREATE),
        ("OMSS_IOC_SOURCE_SET", OMSS_IOC_SOURCE_SET),
        ("OMSS_IOC_SINK_ADD", OMSS_IOC_SINK_ADD),
        ("OMSS_IOC_SINK_REMOVE", OMSS_IOC_SINK_REMOVE),
        ("OMSS_IOC_SESSION_DESTROY", OMSS_IOC_SESSION_DESTROY),
        ("OMSS_IOC_SESSION_STATS", OMSS_IOC_SESSION_STATS),
    ] {
        m.insert(k.into(), v.into());
    }
    m.insert("OMSS_IOC_ENGINE_STATS".into(), OMSS_IOC_ENGINE_STATS.into());
    m.insert(
        "omss_engine_stats.size_of".into(),
        size_of::<OmssEngineStats>() as u64,
    );
    field!(m, "omss_engine_stats", OmssEngineStats, size);
    field!(m, "omss_engine_stats", OmssEngineStats, workers);
    field!(m, "omss_engine_stats", OmssEngineStats, workers_idle);
    field!(m, "omss_engine_stats", OmssEngineStats, sessions);
    field!(m, "omss_engine_stats", OmssEngineStats, entries_live);
    field!(m, "omss_engine_stats", OmssEngineStats, pages_live);
    field!(m, "omss_engine_stats", OmssEngineStats, tasks_run);
    field!(m, "omss_engine_stats", OmssEngineStats, reserved);
    m.insert(
        "omss_session_create.size_of".into(),
        size_of::<OmssSessionCreate>() as u64,
    );
    field!(m, "omss_session_create", OmssSessionCreate, size);
    field!(m, "omss_session_create", OmssSessionCreate, flags);
    field!(m, "omss_session_create", OmssSessionCreate, priority);
    field!(m, "omss_session_create", OmssSessionCreate, mode);
    field!(m, "omss_session_create", OmssSessionCreate, ring_entries);
    field!(m, "omss_session_create", OmssSessionCreate, session_id);
    field!(m, "omss_session_create", OmssSessionCreate, reserved);
    m.insert(
        "omss_source_set.size_of".into(),
        size_of::<OmssSourceSet>() as u64,
    );
    field!(m, "omss_source_set", OmssSourceSet, size);
    field!(m, "omss_source_set", OmssSourceSet, session_id);
    field!(m, "omss_source_set", OmssSourceSet, fd);
    field!(m, "omss_source_set", OmssSourceSet, reserved);
    m.insert(
        "omss_sink_add.size_of".into(),
        size_of::<OmssSinkAdd>() as u64,
    );
    field!(m, "omss_sink_add", OmssSinkAdd, size);
    field!(m, "omss_sink_add", OmssSinkAdd, session_id);
    field!(m, "omss_sink_add", OmssSinkAdd, fd);
    field!(m, "omss_sink_add", OmssSinkAdd, sink_id);
    field!(m, "omss_sink_add", OmssSinkAdd, reserved);
    m.insert("omss_target.size_of".into(), size_of::<OmssTarget>() as u64);
    field!(m, "omss_target", OmssTarget, size);
    field!(m, "omss_target", OmssTarget, session_id);
    field!(m, "omss_target", OmssTarget, sink_id);
    field!(m, "omss_target", OmssTarget, reserved);
    m.insert(
        "omss_sink_stats.size_of".into(),
        size_of::<OmssSinkStats>() as u64,
    );
    field!(m, "omss_sink_stats", OmssSinkStats, sink_id);
    field!(m, "omss_sink_stats", OmssSinkStats, state);
    field!(m, "omss_sink_stats", OmssSinkStats, err);
    field!(m, "omss_sink_stats", OmssSinkStats, errors);
    field!(m, "omss_sink_stats", OmssSinkStats, tx_bytes);
    field!(m, "omss_sink_stats", OmssSinkStats, tx_packets);
    field!(m, "omss_sink_stats", OmssSinkStats, entries_lost);
    field!(m, "omss_sink_stats", OmssSinkStats, lag);
    m.insert(
        "omss_session_stats.size_of".into(),
        size_of::<OmssSessionStats>() as u64,
    );
    field!(m, "omss_session_stats", OmssSessionStats, size);
    field!(m, "omss_session_stats", OmssSessionStats, session_id);
    field!(m, "omss_session_stats", OmssSessionStats, state);
    field!(m, "omss_session_stats", OmssSessionStats, source_err);
    field!(m, "omss_session_stats", OmssSessionStats, priority);
    field!(m, "omss_session_stats", OmssSessionStats, mode);
    field!(m, "omss_session_stats", OmssSessionStats, ring_capacity);
    field!(m, "omss_session_stats", OmssSessionStats, ring_fill);
    field!(m, "omss_session_stats", OmssSessionStats, nr_sinks);
    field!(m, "omss_session_stats", OmssSessionStats, sinks_cap);
    field!(m, "omss_session_stats", OmssSessionStats, sinks_ptr);
    field!(m, "omss_session_stats", OmssSessionStats, rx_bytes);
    field!(m, "omss_session_stats", OmssSessionStats, rx_packets);
    field!(m, "omss_session_stats", OmssSessionStats, entries_stored);
    field!(m, "omss_session_stats", OmssSessionStats, entries_dropped);
    field!(m, "omss_session_stats", OmssSessionStats, pages_allocated);
    field!(m, "omss_session_stats", OmssSessionStats, reserved);
    field!(m, "omss_session_stats", OmssSessionStats, rx_errors);
    field!(m, "omss_session_stats", OmssSessionStats, rx_truncated);
    field!(m, "omss_session_stats", OmssSessionStats, run_first);
    field!(m, "omss_session_stats", OmssSessionStats, run_last);
    field!(m, "omss_session_stats", OmssSessionStats, pages_stored);
    m.insert(
        "OMSS_SESSION_STATS_SIZE_V1".into(),
        OMSS_SESSION_STATS_SIZE_V1 as u64,
    );
    m.insert(
        "OMSS_IOC_SESSION_STATS_V1".into(),
        OMSS_IOC_SESSION_STATS_V1.into(),
    );
    m.insert("OMSS_IOC_ENGINE_PAUSE".into(), OMSS_IOC_ENGINE_PAUSE.into());
    m.insert(
        "omss_engine_pause.size_of".into(),
        size_of::<OmssEnginePause>() as u64,
    );
    field!(m, "omss_engine_pause", OmssEnginePause, size);
    field!(m, "omss_engine_pause", OmssEnginePause, paused);
    field!(m, "omss_engine_pause", OmssEnginePause, reserved);
    for (k, v) in [
        ("OMSS_SINK_KICKED", OMSS_SINK_KICKED),
        ("OMSS_SESSION_PERSIST", OMSS_SESSION_PERSIST),
        ("OMSS_DROP_SLOWEST", OMSS_DROP_SLOWEST),
        ("OMSS_DROP_TAIL", OMSS_DROP_TAIL),
        ("OMSS_DROP_RED", OMSS_DROP_RED),
        ("OMSS_LIMIT_NONE", OMSS_LIMIT_NONE),
        ("OMSS_PERSIST_MAX_MS", OMSS_PERSIST_MAX_MS),
        ("OMSS_IOC_SESSION_CREATE_V1", OMSS_IOC_SESSION_CREATE_V1),
        ("OMSS_IOC_SINK_ADD_V1", OMSS_IOC_SINK_ADD_V1),
        ("OMSS_IOC_SESSION_ADOPT", OMSS_IOC_SESSION_ADOPT),
    ] {
        m.insert(k.into(), v.into());
    }
    m.insert("omss_limits.size_of".into(), size_of::<OmssLimits>() as u64);
    field!(m, "omss_limits", OmssLimits, burst_entries);
    field!(m, "omss_limits", OmssLimits, burst_ms);
    field!(m, "omss_limits", OmssLimits, lag_soft_entries);
    field!(m, "omss_limits", OmssLimits, lag_soft_ms);
    field!(m, "omss_limits", OmssLimits, lag_hard_entries);
    field!(m, "omss_limits", OmssLimits, lag_hard_ms);
    field!(m, "omss_session_create", OmssSessionCreate, limits);
    field!(m, "omss_session_create", OmssSessionCreate, drop_policy);
    field!(m, "omss_session_create", OmssSessionCreate, persist_ms);
    field!(m, "omss_session_create", OmssSessionCreate, token);
    field!(m, "omss_session_create", OmssSessionCreate, record_size);
    field!(m, "omss_session_create", OmssSessionCreate, datagram_size);
    m.insert("OMSS_ENTRY_MAX".into(), OMSS_ENTRY_MAX.into());
    m.insert("OMSS_ENTRY_MIN".into(), OMSS_ENTRY_MIN.into());
    field!(m, "omss_sink_add", OmssSinkAdd, limits);
    m.insert(
        "OMSS_SESSION_CREATE_SIZE_V1".into(),
        OMSS_SESSION_CREATE_SIZE_V1 as u64,
    );
    m.insert("OMSS_SINK_ADD_SIZE_V1".into(), OMSS_SINK_ADD_SIZE_V1 as u64);
    m.insert(
        "omss_session_adopt.size_of".into(),
        size_of::<OmssSessionAdopt>() as u64,
    );
    field!(m, "omss_session_adopt", OmssSessionAdopt, size);
    field!(m, "omss_session_adopt", OmssSessionAdopt, session_id);
    field!(m, "omss_session_adopt", OmssSessionAdopt, token);
    field!(m, "omss_session_adopt", OmssSessionAdopt, reserved);
    // ABI 2's create and sink-add structs are prefixes of ABI 3's, of the size they had.
    assert_eq!(
        size_of::<OmssSessionCreateV1>(),
        OMSS_SESSION_CREATE_SIZE_V1
    );
    assert_eq!(
        offset_of!(OmssSessionCreate, limits),
        OMSS_SESSION_CREATE_SIZE_V1
    );
    assert_eq!(size_of::<OmssSinkAddV1>(), OMSS_SINK_ADD_SIZE_V1);
    assert_eq!(offset_of!(OmssSinkAdd, limits), OMSS_SINK_ADD_SIZE_V1);
    // ABI 1's session stats are a prefix of ABI 2's, of the size ABI 1 had.
    assert_eq!(size_of::<OmssSessionStatsV1>(), OMSS_SESSION_STATS_SIZE_V1);
    assert_eq!(
        size_of::<OmssSessionStatsV1>(),
        offset_of!(OmssSessionStats, rx_errors)
    );
    for (k, v) in netlink_facts() {
        m.insert(k.into(), v);
    }
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
fn netlink_strings_agree() {
    let c = c_strings();
    let r: BTreeMap<String, String> = netlink_strings()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(
        c, r,
        "the C header and the Rust mirror name the family differently"
    );
}

#[test]
fn request_sets_size() {
    assert_eq!(
        OmssVersion::request().size as usize,
        size_of::<OmssVersion>()
    );
}
