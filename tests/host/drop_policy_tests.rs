//! The drop policies (`buffer/policy.rs`): tail drop, slowest-sink-drop and RED.

use crate::drop_policy::*;
use proptest::prelude::*;

/// Largest ring capacity (`RING_LIMIT` in `relay/args.rs`).
const RING_LIMIT: u32 = 1 << 16;

/// A deterministic uniform source (xorshift32), seeded per test.
struct XorShift(u32);

impl XorShift {
    fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
}

fn policy() -> impl Strategy<Value = DropPolicy> {
    prop_oneof![
        Just(DropPolicy::Slowest),
        Just(DropPolicy::Tail),
        Just(DropPolicy::Red)
    ]
}

/// A capacity and a sequence of (fill, rand) arrivals with fills in `0..=capacity`.
fn arrivals(max_len: usize) -> impl Strategy<Value = (u32, Vec<(u32, u32)>)> {
    (1..=RING_LIMIT).prop_flat_map(move |cap| {
        (
            Just(cap),
            prop::collection::vec(
                (
                    prop_oneof![
                        2 => 0..=cap,
                        1 => Just(cap),
                        1 => Just(cap / 2),
                        1 => Just(0u32),
                    ],
                    any::<u32>(),
                ),
                0..max_len,
            ),
        )
    })
}

/// RED's lower threshold in the average's fixed point.
fn min_th(cap: u32) -> u64 {
    u64::from(cap / 2) << AVG_SHIFT
}

#[test]
fn abi_values() {
    // As in uapi/omss.h.
    assert_eq!(DropPolicy::from_abi(0), Some(DropPolicy::Slowest));
    assert_eq!(DropPolicy::from_abi(1), Some(DropPolicy::Tail));
    assert_eq!(DropPolicy::from_abi(2), Some(DropPolicy::Red));
    assert_eq!(DropPolicy::from_abi(3), None);
    assert_eq!(DropPolicy::from_abi(u32::MAX), None);
    assert_eq!(DropPolicy::default(), DropPolicy::Slowest);
    for p in [DropPolicy::Slowest, DropPolicy::Tail, DropPolicy::Red] {
        assert_eq!(DropPolicy::from_abi(p.abi()), Some(p));
        assert_eq!(Admission::new(p).policy(), p);
    }
}

/// Drop fraction of RED over `n` arrivals at a steady `fill`, after a warm-up that brings the
/// average there.
fn red_drop_fraction(cap: u32, fill: u32, n: u32, rng: &mut XorShift) -> f64 {
    let mut a = Admission::new(DropPolicy::Red);
    for _ in 0..200 {
        a.admit(fill, cap, rng.next());
    }
    let dropped = (0..n).filter(|_| !a.admit(fill, cap, rng.next())).count();
    dropped as f64 / f64::from(n)
}

/// The chance RED's curve gives a steady fill: 0 up to half full, then linear to 1 at full.
fn red_curve(cap: u32, fill: u32) -> f64 {
    let min = cap / 2;
    if fill >= cap {
        1.0
    } else if fill <= min {
        0.0
    } else {
        f64::from(fill - min) / f64::from(cap - min)
    }
}

#[test]
fn red_frequency_rises_with_fill() {
    let mut rng = XorShift(0x0de5_5eed);
    for cap in [8, 10, 64, 256, 1000, 4096, RING_LIMIT] {
        let fills = [cap / 2, cap * 3 / 4, cap * 9 / 10];
        let f: Vec<f64> = fills
            .iter()
            .map(|&fill| red_drop_fraction(cap, fill, 10_000, &mut rng))
            .collect();
        eprintln!("capacity {cap}: drop fraction at 50/75/90% {f:.4?}");
        assert_eq!(f[0], 0.0, "capacity {cap}: drops at half full");
        assert!(f[0] < f[1] && f[1] < f[2], "capacity {cap}: {f:?}");
        for (&fill, &got) in fills.iter().zip(&f) {
            let want = red_curve(cap, fill);
            assert!(
                (got - want).abs() < 0.03,
                "capacity {cap} fill {fill}: dropped {got}, curve {want}"
            );
        }
    }
}

proptest! {
    #[test]
    fn slowest_always_admits((cap, seq) in arrivals(64)) {
        let mut a = Admission::new(DropPolicy::Slowest);
        for (fill, rand) in seq {
            prop_assert!(a.admit(fill, cap, rand));
        }
    }

    #[test]
    fn tail_drops_exactly_when_full((cap, seq) in arrivals(64)) {
        let mut a = Admission::new(DropPolicy::Tail);
        for (fill, rand) in seq {
            prop_assert_eq!(a.admit(fill, cap, rand), fill < cap);
        }
    }

    /// Whatever the history: a full ring always drops, and a drop below full needs an average
    /// above `min_th`; the average never exceeds the capacity.
    #[test]
    fn red_bounds((cap, seq) in arrivals(256)) {
        let mut a = Admission::new(DropPolicy::Red);
        for (fill, rand) in seq {
            let admitted = a.admit(fill, cap, rand);
            let avg = a.red().average();
            prop_assert!(avg <= u64::from(cap) << AVG_SHIFT);
            if fill >= cap {
                prop_assert!(!admitted);
            } else if avg <= min_th(cap) {
                prop_assert!(admitted, "dropped with average {} <= min_th", avg);
            }
        }
    }

    /// After any history, a fill that stays below `min_th` brings the average below it within
    /// 128 arrivals, and from then on nothing is dropped.
    #[test]
    fn red_never_drops_below_min_th(
        (cap, seq) in arrivals(64).prop_filter("min_th > 0", |(cap, _)| *cap >= 2),
        low in any::<u32>(),
        rands in prop::collection::vec(any::<u32>(), 256),
    ) {
        let mut a = Admission::new(DropPolicy::Red);
        for (fill, rand) in seq {
            a.admit(fill, cap, rand);
        }
        let low = low % (cap / 2);
        for (i, rand) in rands.into_iter().enumerate() {
            let admitted = a.admit(low, cap, rand);
            if i >= 128 {
                prop_assert!(a.red().average() < min_th(cap));
                prop_assert!(admitted);
            }
        }
    }

    /// With a steady fill, the chance of a drop is a non-decreasing function of the fill.
    #[test]
    fn red_chance_monotonic(cap in 1..=RING_LIMIT, x in any::<u32>(), y in any::<u32>()) {
        let (lo, hi) = (x % (cap + 1), y % (cap + 1));
        let (lo, hi) = (lo.min(hi), lo.max(hi));
        let steady = |fill: u32| {
            let mut a = Admission::new(DropPolicy::Red);
            for _ in 0..200 {
                a.admit(fill, cap, 0);
            }
            a.red().drop_chance(fill, cap)
        };
        let (c_lo, c_hi) = (steady(lo), steady(hi));
        prop_assert!(c_lo <= c_hi, "fill {} chance {} > fill {} chance {}", lo, c_lo, hi, c_hi);
        prop_assert!(c_hi <= CHANCE_ONE);
        if lo <= cap / 2 {
            prop_assert_eq!(c_lo, 0);
        }
        if hi == cap {
            prop_assert_eq!(c_hi, CHANCE_ONE);
        }
    }

    /// No input panics (overflow checks are on in host tests), not even out-of-range ones.
    #[test]
    fn no_panic(
        p in policy(),
        seq in prop::collection::vec((any::<u32>(), any::<u32>(), any::<u32>()), 0..64),
    ) {
        let mut a = Admission::new(p);
        for (fill, cap, rand) in seq {
            let admitted = a.admit(fill, cap, rand);
            if p == DropPolicy::Slowest {
                prop_assert!(admitted);
            }
            if fill >= cap.max(1) && p != DropPolicy::Slowest {
                prop_assert!(!admitted);
            }
        }
        for (fill, cap) in [(u32::MAX, u32::MAX), (u32::MAX - 1, u32::MAX), (0, 0), (1, 0)] {
            for rand in [0, u32::MAX] {
                a.admit(fill, cap, rand);
            }
        }
    }

    /// A known policy value round-trips; every other value is rejected.
    #[test]
    fn from_abi_rejects_unknown(v in any::<u32>()) {
        match DropPolicy::from_abi(v) {
            Some(p) => prop_assert_eq!(p.abi(), v),
            None => prop_assert!(v > 2),
        }
    }
}
