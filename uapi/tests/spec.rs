//! Checks `uapi/omss.yaml` (the generic netlink family in the kernel's YNL genetlink format)
//! against the Rust mirror and the C header: the family and multicast group names, every
//! operation's command number (genetlink numbers them from 1 in list order), every
//! attribute's type number (its `value`, else the previous one's + 1, the first 1), and the
//! values of the event enum (from its `value-start`). Each YAML name maps to the constant
//! YNL would generate for it (`sink-get` -> `OMSS_CMD_SINK_GET`, attribute `session-id` of
//! the family's own set -> `OMSS_A_SESSION_ID`, `sink-failed` of enum `event` ->
//! `OMSS_EVENT_SINK_FAILED`).

use std::collections::BTreeMap;
use yaml_rust2::{Yaml, YamlLoader};

mod common;
use common::{c_facts, c_strings, netlink_facts, netlink_strings};

fn spec_text() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/omss.yaml");
    std::fs::read_to_string(path).expect("read uapi/omss.yaml")
}

fn load(text: &str) -> Yaml {
    let mut docs = YamlLoader::load_from_str(text).expect("omss.yaml parses");
    assert_eq!(docs.len(), 1, "omss.yaml holds one document");
    docs.remove(0)
}

/// `session-get` -> `SESSION_GET`.
fn c_name(s: &str) -> String {
    s.replace('-', "_").to_uppercase()
}

fn list<'a>(y: &'a Yaml, what: &str) -> &'a Vec<Yaml> {
    y.as_vec()
        .unwrap_or_else(|| panic!("omss.yaml: {what} is not a list"))
}

fn str_of<'a>(y: &'a Yaml, what: &str) -> &'a str {
    y.as_str()
        .unwrap_or_else(|| panic!("omss.yaml: {what} is not a string"))
}

/// Every numeric constant the spec defines, by its C name, and its string ones.
fn spec_facts(spec: &Yaml) -> (BTreeMap<String, u64>, BTreeMap<String, String>) {
    let mut n = BTreeMap::new();
    let mut s = BTreeMap::new();
    let family = str_of(&spec["name"], "name");
    assert_eq!(str_of(&spec["protocol"], "protocol"), "genetlink");
    let fam = c_name(family);
    s.insert(format!("{fam}_GENL_NAME"), family.to_string());

    // Operations: numbered from 1 in list order (genetlink, not genetlink-legacy: no
    // `value` of their own).
    let ops = list(&spec["operations"]["list"], "operations.list");
    for (i, op) in ops.iter().enumerate() {
        assert!(
            op["value"].is_badvalue(),
            "genetlink operations take no value"
        );
        let name = str_of(&op["name"], "an operation's name");
        n.insert(format!("{fam}_CMD_{}", c_name(name)), i as u64 + 1);
    }
    n.insert(format!("{fam}_CMD_MAX"), ops.len() as u64);

    // Attributes of the family's own set (prefix `{family}-a-`).
    let sets = list(&spec["attribute-sets"], "attribute-sets");
    assert_eq!(sets.len(), 1, "one attribute set");
    assert_eq!(str_of(&sets[0]["name"], "the set's name"), family);
    let mut next = 1;
    let mut attrs = BTreeMap::new();
    for a in list(&sets[0]["attributes"], "attributes") {
        let name = str_of(&a["name"], "an attribute's name");
        let v = match a["value"].as_i64() {
            Some(v) => v as u64,
            None => {
                assert!(a["value"].is_badvalue(), "{name}: value is not a number");
                next
            }
        };
        n.insert(format!("{fam}_A_{}", c_name(name)), v);
        attrs.insert(name.to_string(), str_of(&a["type"], "type").to_string());
        next = v + 1;
    }
    n.insert(format!("{fam}_A_MAX"), next - 1);

    // Enums: value-start (default 0), then + 1 each.
    let mut enums = Vec::new();
    for d in list(&spec["definitions"], "definitions") {
        let ename = str_of(&d["name"], "a definition's name");
        assert_eq!(str_of(&d["type"], "type"), "enum", "{ename}: only enums");
        let start = d["value-start"].as_i64().unwrap_or(0) as u64;
        for (i, e) in list(&d["entries"], "entries").iter().enumerate() {
            let e = str_of(e, "an enum entry");
            n.insert(
                format!("{fam}_{}_{}", c_name(ename), c_name(e)),
                start + i as u64,
            );
        }
        enums.push(ename.to_string());
    }

    // Multicast groups.
    let mut groups = Vec::new();
    for g in list(&spec["mcast-groups"]["list"], "mcast-groups.list") {
        let g = str_of(&g["name"], "a group's name");
        s.insert(format!("{fam}_GENL_MCGRP_{}", c_name(g)), g.to_string());
        groups.push(g.to_string());
    }

    // What the operations and attributes refer to exists.
    for op in ops {
        let name = str_of(&op["name"], "name");
        assert_eq!(str_of(&op["attribute-set"], "attribute-set"), family);
        for part in [
            &op["dump"]["request"],
            &op["dump"]["reply"],
            &op["do"]["request"],
            &op["do"]["reply"],
            &op["event"],
        ] {
            if part.is_badvalue() {
                continue;
            }
            for a in list(&part["attributes"], "attributes") {
                let a = str_of(a, "an attribute reference");
                assert!(attrs.contains_key(a), "{name}: unknown attribute {a}");
            }
        }
        if let Some(g) = op["mcgrp"].as_str() {
            assert!(groups.iter().any(|x| x == g), "{name}: unknown group {g}");
        }
    }
    for a in list(&sets[0]["attributes"], "attributes") {
        if let Some(e) = a["enum"].as_str() {
            assert!(enums.iter().any(|x| x == e), "unknown enum {e}");
        }
    }
    (n, s)
}

/// Compares the spec's facts with another side's: same names, same values.
fn agree<V: PartialEq + std::fmt::Debug>(
    spec: &BTreeMap<String, V>,
    other: &BTreeMap<String, V>,
    side: &str,
) -> Result<(), String> {
    let mut bad = Vec::new();
    for (k, v) in spec {
        match other.get(k) {
            Some(o) if o == v => {}
            Some(o) => bad.push(format!("{k}: omss.yaml says {v:?}, {side} says {o:?}")),
            None => bad.push(format!("{k}: in omss.yaml, not in {side}")),
        }
    }
    for k in other.keys().filter(|k| !spec.contains_key(*k)) {
        bad.push(format!("{k}: in {side}, not in omss.yaml"));
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(bad.join("\n"))
    }
}

/// The Rust mirror's netlink facts, less the version (not in the spec).
fn rust_side() -> (BTreeMap<String, u64>, BTreeMap<String, String>) {
    let n = netlink_facts()
        .into_iter()
        .filter(|(k, _)| *k != "OMSS_GENL_VERSION")
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let s = netlink_strings()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (n, s)
}

/// The C header's netlink facts (those `abi_check.c` prints under these names).
fn c_side(names: &BTreeMap<String, u64>) -> (BTreeMap<String, u64>, BTreeMap<String, String>) {
    let all = c_facts();
    let n = names
        .keys()
        .filter_map(|k| all.get(k).map(|v| (k.clone(), *v)))
        .collect();
    (n, c_strings())
}

fn check(text: &str) -> Result<(), String> {
    let (sn, ss) = spec_facts(&load(text));
    let (rn, rs) = rust_side();
    let (cn, cs) = c_side(&rn);
    let errs: Vec<String> = [
        agree(&sn, &rn, "uapi/omss.rs"),
        agree(&ss, &rs, "uapi/omss.rs"),
        agree(&sn, &cn, "uapi/omss.h"),
        agree(&ss, &cs, "uapi/omss.h"),
    ]
    .into_iter()
    .filter_map(Result::err)
    .collect();
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("\n"))
    }
}

#[test]
fn spec_agrees_with_rust_and_c() {
    if let Err(e) = check(&spec_text()) {
        panic!("uapi/omss.yaml disagrees:\n{e}");
    }
}

/// Whether `check` rejects `text` (with an error, or a panic for a malformed spec).
fn rejected(text: &str) -> bool {
    std::panic::catch_unwind(|| check(text)).map_or(true, |r| r.is_err())
}

/// The check can fail: a spec with one change (an attribute inserted, which renumbers the
/// ones after it; an event renamed; the group renamed; an operation moved) is caught.
#[test]
fn a_changed_spec_is_caught() {
    let text = spec_text();
    let edits: [(&str, &str); 4] = [
        (
            "      -\n        name: lag\n",
            "      -\n        name: extra\n        type: u32\n      -\n        name: lag\n",
        ),
        ("      - session-adopted\n", "      - session-taken\n"),
        ("      name: events\n", "      name: notify\n"),
        (
            "        name: pad\n        type: pad\n        value: 1\n",
            "        name: pad\n        type: pad\n        value: 2\n",
        ),
    ];
    for (from, to) in edits {
        assert!(text.contains(from), "the spec no longer has {from:?}");
        let changed = text.replacen(from, to, 1);
        assert!(rejected(&changed), "a spec with {from:?} -> {to:?} passed");
    }
    // Moving the first operation to the end renumbers every operation.
    let ops = text.find("operations:\n  list:\n").unwrap();
    let first = text[ops..].find("    -\n      name: session-get").unwrap() + ops;
    let second = text[first + 1..]
        .find("    -\n      name: sink-get")
        .unwrap()
        + first
        + 1;
    let groups = text.find("\nmcast-groups:").unwrap();
    let moved = format!(
        "{}{}{}{}",
        &text[..first],
        &text[second..groups],
        &text[first..second],
        &text[groups..]
    );
    assert!(rejected(&moved), "reordered operations passed");
}
