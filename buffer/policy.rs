// SPDX-License-Identifier: GPL-2.0

//! Drop policy of a session: whether a new entry is stored when the ring is full or filling.
//!
//! Pure logic: no kernel types, no allocation, no floating point and no randomness of its own
//! (the caller passes a random `u32` per entry), so it is also property-tested on the host
//! (`tests/host`). For every entry the source receives, [`Admission::admit`] says whether it
//! is stored (then `RingIndex::make_room` and `push` as before) or dropped on arrival.
//!
//! Who loses what:
//! - [`DropPolicy::Slowest`] (`OMSS_DROP_SLOWEST`, the default, the paper's slowest-sink-drop):
//!   every new entry is stored; a full ring drops its oldest entry, which only the slowest
//!   sinks still need. A sink that keeps up never loses an entry; a slow one loses the oldest
//!   part of its backlog and stays a ring's length behind at most.
//! - [`DropPolicy::Tail`] (`OMSS_DROP_TAIL`): a full ring does not store the new entry, so
//!   every sink loses it, also those that keep up; the slowest sinks keep a gapless backlog.
//!   While the ring stays full, every sink loses a run of consecutive entries.
//! - [`DropPolicy::Red`] (`OMSS_DROP_RED`, Random Early Detection): once the ring is more than
//!   half full on average, new entries are dropped at random, more often the fuller it is, and
//!   always when it is full. Every sink loses them, as with tail drop, but losses start
//!   earlier and come as scattered single entries rather than runs, and the slow sinks' lag
//!   settles below the ring's capacity where their pace matches what is admitted.
//!
//! `fill` is the number of entries that some sink still needs. Entries kept only for late
//! joiners (the burst) are released to make room anyway; counting them would make tail drop
//! and RED drop entries for a ring that is not congested.

/// `OMSS_DROP_SLOWEST` in `uapi/omss.h`.
const ABI_SLOWEST: u32 = 0;
/// `OMSS_DROP_TAIL`.
const ABI_TAIL: u32 = 1;
/// `OMSS_DROP_RED`.
const ABI_RED: u32 = 2;

/// What happens to a new entry when the ring is full or filling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum DropPolicy {
    /// Always stored; a full ring drops its oldest entry (slowest-sink-drop).
    #[default]
    Slowest,
    /// Not stored when the ring is full.
    Tail,
    /// Dropped early at random as the ring's average fill rises, always when it is full.
    Red,
}

impl DropPolicy {
    /// The policy of an `OMSS_DROP_*` value; `None` for an unknown one.
    pub(crate) fn from_abi(v: u32) -> Option<Self> {
        match v {
            ABI_SLOWEST => Some(Self::Slowest),
            ABI_TAIL => Some(Self::Tail),
            ABI_RED => Some(Self::Red),
            _ => None,
        }
    }

    /// The `OMSS_DROP_*` value of this policy.
    pub(crate) fn abi(self) -> u32 {
        match self {
            Self::Slowest => ABI_SLOWEST,
            Self::Tail => ABI_TAIL,
            Self::Red => ABI_RED,
        }
    }
}

/// Fractional bits of RED's average fill: it counts 1/256 entries.
pub(crate) const AVG_SHIFT: u32 = 8;
/// RED's averaging weight is `1 / 2^WEIGHT_SHIFT` = 1/8: each arrival moves the average an
/// eighth of the way to the current fill, so it follows a change within some 20 arrivals
/// (`(7/8)^17` is about 1/10) and ignores a fill that peaks for one or two.
pub(crate) const WEIGHT_SHIFT: u32 = 3;
/// Drop chances count `1 / CHANCE_ONE`; `CHANCE_ONE` is a certain drop.
pub(crate) const CHANCE_ONE: u32 = 1 << 16;

/// RED's state: the exponentially weighted average of the fill seen by new entries.
///
/// The curve: with `min_th = capacity / 2` and `max_th = capacity`, an average at or below
/// `min_th` never drops; between them the drop chance rises linearly from 0 to 1 (half full
/// on average: 0; three quarters: 1/2; 90%: 4/5); a full ring (the current fill, not the
/// average) always drops, like tail drop. Rising to 1 rather than to a small `max_p` leaves
/// no jump at `max_th`: a sink that takes a fraction `r` of the stream's rate holds the
/// average where the chance is `1 - r`, below full whenever `r > 0`.
///
/// Drops are independent from one arrival to the next (no count since the last drop), so two
/// drops in a row happen now and then. An empty ring (every sink caught up) resets the
/// average to 0: after a pause in the stream the average does not hold a stale fill.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RedState {
    /// Average fill, in `1 / 2^AVG_SHIFT` entries; at most `capacity << AVG_SHIFT`.
    avg: u64,
}

impl RedState {
    /// Takes the fill that a new entry finds into the average.
    fn update(&mut self, fill: u32, capacity: u32) {
        if fill == 0 {
            self.avg = 0;
            return;
        }
        // At most 2^32 << 8: no overflow for any u32.
        let target = u64::from(fill.min(capacity)) << AVG_SHIFT;
        if target >= self.avg {
            self.avg += (target - self.avg) >> WEIGHT_SHIFT;
        } else {
            self.avg -= (self.avg - target) >> WEIGHT_SHIFT;
        }
    }

    /// The average fill, in `1 / 2^AVG_SHIFT` entries.
    #[cfg_attr(not(test), expect(dead_code, reason = "used by the host tests"))]
    pub(crate) fn average(&self) -> u64 {
        self.avg
    }

    /// The chance, in `1 / CHANCE_ONE`, that a new entry that finds `fill` entries in a ring of
    /// `capacity` is dropped, given the current average.
    pub(crate) fn drop_chance(&self, fill: u32, capacity: u32) -> u32 {
        let capacity = capacity.max(1);
        if fill >= capacity {
            return CHANCE_ONE;
        }
        let min = u64::from(capacity / 2) << AVG_SHIFT;
        let max = u64::from(capacity) << AVG_SHIFT;
        if self.avg <= min {
            return 0;
        }
        if self.avg >= max {
            return CHANCE_ONE;
        }
        // `avg - min < max - min <= 2^40`, so the product stays below 2^56. `max - min` is at
        // least 1 << AVG_SHIFT; no panic path for objtool either.
        let chance = ((self.avg - min) << 16)
            .checked_div(max - min)
            .unwrap_or(u64::from(CHANCE_ONE));
        chance.min(u64::from(CHANCE_ONE)) as u32
    }
}

/// Decides, entry by entry, whether a session stores what its source receives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Admission {
    policy: DropPolicy,
    red: RedState,
}

impl Admission {
    /// A session's admission under `policy`, with an empty history.
    pub(crate) fn new(policy: DropPolicy) -> Self {
        Self {
            policy,
            red: RedState::default(),
        }
    }

    /// The policy.
    pub(crate) fn policy(&self) -> DropPolicy {
        self.policy
    }

    /// RED's state (kept at its start under the other policies).
    #[cfg_attr(not(test), expect(dead_code, reason = "used by the host tests"))]
    pub(crate) fn red(&self) -> &RedState {
        &self.red
    }

    /// Whether a new entry that finds `fill` entries in a ring of `capacity` (0 is taken as 1,
    /// as `RingIndex::new` does) is stored (`true`) or dropped on arrival (`false`). `rand` is
    /// a fresh uniform random number (its high 16 bits are used); only RED reads it.
    pub(crate) fn admit(&mut self, fill: u32, capacity: u32, rand: u32) -> bool {
        match self.policy {
            DropPolicy::Slowest => true,
            DropPolicy::Tail => fill < capacity.max(1),
            DropPolicy::Red => {
                self.red.update(fill, capacity);
                (rand >> 16) >= self.red.drop_chance(fill, capacity)
            }
        }
    }
}
