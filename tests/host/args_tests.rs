use crate::args::*;
use proptest::prelude::*;

const GOOD: ParamValues = ParamValues {
    ring_default: 256,
    ring_max: 4096,
    workers: 0,
    workers_max: 64,
};

#[test]
fn header_size_and_reserved() {
    assert_eq!(check_header(32, 32, &[0, 0, 0]), Ok(()));
    assert_eq!(check_header(31, 32, &[0, 0, 0]), Err(ArgError::Invalid));
    assert_eq!(check_header(33, 32, &[]), Err(ArgError::Invalid));
    assert_eq!(check_header(32, 32, &[0, 1, 0]), Err(ArgError::Invalid));
}

#[test]
fn params() {
    assert_eq!(check_params(&GOOD), Ok(()));
    let bad = [
        (
            ParamValues {
                ring_default: 1,
                ..GOOD
            },
            ArgError::Invalid,
        ),
        (
            ParamValues {
                ring_default: 5000,
                ..GOOD
            },
            ArgError::Invalid,
        ),
        (
            ParamValues {
                ring_max: RING_LIMIT + 1,
                ..GOOD
            },
            ArgError::TooBig,
        ),
        (
            ParamValues {
                workers_max: 0,
                ..GOOD
            },
            ArgError::Invalid,
        ),
        (
            ParamValues {
                workers: 65,
                ..GOOD
            },
            ArgError::Invalid,
        ),
        (
            ParamValues {
                workers_max: WORKERS_LIMIT + 1,
                ..GOOD
            },
            ArgError::TooBig,
        ),
    ];
    for (p, e) in bad {
        assert_eq!(check_params(&p), Err(e), "{p:?}");
    }
}

const TCP_OK: SockFacts = SockFacts {
    family: 2,
    sock_type: 1,
    protocol: 6,
    state: 1,
    bound: true,
    owned: false,
    ulp: false,
};
const UDP_BOUND: SockFacts = SockFacts {
    family: 10,
    sock_type: 2,
    protocol: 17,
    state: 7,
    bound: true,
    owned: false,
    ulp: false,
};

#[test]
fn sockets() {
    assert_eq!(check_socket(&TCP_OK, false), Ok(Proto::Tcp));
    assert_eq!(check_socket(&TCP_OK, true), Ok(Proto::Tcp));
    assert_eq!(check_socket(&UDP_BOUND, false), Ok(Proto::Udp));
    // A bound but unconnected UDP socket cannot be a sink.
    assert_eq!(check_socket(&UDP_BOUND, true), Err(ArgError::Invalid));
    assert_eq!(
        check_socket(
            &SockFacts {
                state: 1,
                ..UDP_BOUND
            },
            true
        ),
        Ok(Proto::Udp)
    );
    // Listening (state 10) or unconnected TCP.
    assert_eq!(
        check_socket(
            &SockFacts {
                state: 10,
                ..TCP_OK
            },
            true
        ),
        Err(ArgError::Invalid)
    );
    assert_eq!(
        check_socket(&SockFacts { state: 7, ..TCP_OK }, false),
        Err(ArgError::Invalid)
    );
    // Unbound UDP source.
    assert_eq!(
        check_socket(
            &SockFacts {
                bound: false,
                ..UDP_BOUND
            },
            false
        ),
        Err(ArgError::Invalid)
    );
    // UNIX, raw, SCTP-like.
    assert_eq!(
        check_socket(
            &SockFacts {
                family: 1,
                ..TCP_OK
            },
            true
        ),
        Err(ArgError::ProtoNotSupported)
    );
    assert_eq!(
        check_socket(
            &SockFacts {
                sock_type: 3,
                protocol: 255,
                ..UDP_BOUND
            },
            false
        ),
        Err(ArgError::ProtoNotSupported)
    );
    assert_eq!(
        check_socket(
            &SockFacts {
                protocol: 132,
                ..TCP_OK
            },
            true
        ),
        Err(ArgError::ProtoNotSupported)
    );
    // Owned by another kernel user.
    assert_eq!(
        check_socket(
            &SockFacts {
                owned: true,
                ..TCP_OK
            },
            true
        ),
        Err(ArgError::Busy)
    );
}

#[test]
fn half_closed_tcp_is_a_sink_not_a_source() {
    // CLOSE_WAIT (8): the peer shut down its side; we can still write to it.
    let half = SockFacts { state: 8, ..TCP_OK };
    assert_eq!(check_socket(&half, true), Ok(Proto::Tcp));
    assert_eq!(check_socket(&half, false), Err(ArgError::Invalid));
    // FIN_WAIT1 (4), CLOSE (7), LAST_ACK (9): our side is closed or closing.
    for state in [4, 7, 9] {
        assert_eq!(
            check_socket(&SockFacts { state, ..TCP_OK }, true),
            Err(ArgError::Invalid)
        );
    }
}

#[test]
fn ulp_sockets_are_refused() {
    let tls = SockFacts {
        ulp: true,
        ..TCP_OK
    };
    assert_eq!(check_socket(&tls, true), Err(ArgError::NotSupported));
    assert_eq!(check_socket(&tls, false), Err(ArgError::NotSupported));
}

#[test]
fn error_classes() {
    use ErrKind::*;
    // EAGAIN waits; memory shortage is transient for both protocols.
    for p in [Proto::Tcp, Proto::Udp] {
        assert_eq!(classify(11, p), Again);
        assert_eq!(classify(12, p), Transient);
        assert_eq!(classify(105, p), Transient);
        // EPIPE, ECONNRESET, EBADF, ENOTCONN are fatal.
        for e in [32, 104, 9, 107] {
            assert_eq!(classify(e, p), Fatal, "errno {e} {p:?}");
        }
    }
    // ICMP and routing errors are about one datagram on UDP, fatal on TCP.
    for e in [111, 113, 101, 112, 100, 1, 90] {
        assert_eq!(classify(e, Proto::Udp), Transient, "errno {e}");
        assert_eq!(classify(e, Proto::Tcp), Fatal, "errno {e}");
    }
}

#[test]
fn create() {
    assert_eq!(check_create(0, 7, MODE_COPY, 0, &GOOD), Ok(256));
    assert_eq!(check_create(0, 0, MODE_SHARE, 4096, &GOOD), Ok(4096));
    assert_eq!(
        check_create(2, 0, MODE_SHARE, 0, &GOOD),
        Err(ArgError::Invalid)
    );
    assert_eq!(
        check_create(0, 8, MODE_SHARE, 0, &GOOD),
        Err(ArgError::Invalid)
    );
    assert_eq!(check_create(0, 0, 2, 0, &GOOD), Err(ArgError::Invalid));
    assert_eq!(
        check_create(0, 0, MODE_SHARE, 1, &GOOD),
        Err(ArgError::Invalid)
    );
    assert_eq!(
        check_create(0, 0, MODE_SHARE, 4097, &GOOD),
        Err(ArgError::TooBig)
    );
}

#[test]
fn same_sink_twice_is_exists() {
    assert_eq!(
        sink_conflict(Err(ArgError::Busy), true),
        Err(ArgError::Exists)
    );
    assert_eq!(
        sink_conflict(Err(ArgError::Busy), false),
        Err(ArgError::Busy)
    );
    assert_eq!(sink_conflict(Ok(Proto::Udp), true), Ok(Proto::Udp));
}

#[test]
fn limits_cover_the_papers_scale() {
    // The paper served 4,000 subscribers from one session.
    const { assert!(MAX_SINKS >= 4000) };
    const { assert!(MAX_SESSIONS >= 8) };
}

#[test]
fn ids_run_out_instead_of_wrapping() {
    let mut ids = Ids::starting_at(u32::MAX - 1);
    assert_eq!(ids.take(), Some(u32::MAX - 1));
    assert_eq!(ids.take(), Some(u32::MAX));
    // Past the last id: none, for good (not 0, not an id that may still be in use).
    assert_eq!(ids.take(), None);
    assert_eq!(ids.take(), None);
}

proptest! {
    #[test]
    fn ids_are_unique_and_nonzero(first in 1u32.., n in 0usize..64) {
        let mut ids = Ids::starting_at(first);
        let got: Vec<u32> = (0..n).map_while(|_| ids.take()).collect();
        prop_assert!(got.windows(2).all(|w| w[0] < w[1]));
        prop_assert!(got.iter().all(|&id| id != 0));
        prop_assert_eq!(got.len() as u64, (n as u64).min(u64::from(u32::MAX - first) + 1));
    }
}

#[test]
fn persist_and_policy() {
    assert_eq!(check_create(FLAG_PERSIST, 0, MODE_SHARE, 0, &GOOD), Ok(256));
    assert_eq!(check_persist(0, 0, 0), Ok(None));
    assert_eq!(check_persist(FLAG_PERSIST, 1, 2), Ok(Some(1)));
    assert_eq!(
        check_persist(FLAG_PERSIST, PERSIST_MAX_MS, 0),
        Ok(Some(PERSIST_MAX_MS))
    );
    for (flags, ms, policy) in [
        (FLAG_PERSIST, 0, 0),
        (FLAG_PERSIST, PERSIST_MAX_MS + 1, 0),
        (0, 5, 0),
        (0, 0, 3),
        (FLAG_PERSIST, 5, u32::MAX),
    ] {
        assert_eq!(
            check_persist(flags, ms, policy),
            Err(ArgError::Invalid),
            "{flags} {ms} {policy}"
        );
    }
}

#[test]
fn limits_resolve_sink_over_session() {
    let s = Limits::session([5, 0, LIMIT_NONE, 100, 0, 0]);
    assert_eq!(s.burst_entries, Some(5));
    assert_eq!(s.burst_ms, None);
    assert_eq!(s.soft_entries, None, "NONE in a session is none");
    assert_eq!(s.soft_ms, Some(100));
    let k = Limits::sink(&s, [0, 7, 0, LIMIT_NONE, 9, 0]);
    assert_eq!(k.burst_entries, Some(5), "0 takes the session's");
    assert_eq!(k.burst_ms, Some(7));
    assert_eq!(k.soft_ms, None, "NONE turns the session's off");
    assert_eq!(k.hard_entries, Some(9));
    assert_eq!(Limits::session([0; 6]), Limits::default());
    assert_eq!(
        Limits::sink(&Limits::default(), [LIMIT_NONE; 6]),
        Limits::default()
    );
}

#[test]
fn retain_follows_the_session_burst() {
    assert_eq!(Limits::default().retain(64), 0);
    assert_eq!(Limits::session([10, 0, 0, 0, 0, 0]).retain(64), 10);
    assert_eq!(Limits::session([100, 0, 0, 0, 0, 0]).retain(64), 64);
    assert_eq!(Limits::session([10, 500, 0, 0, 0, 0]).retain(64), 64);
}

proptest! {
    #[test]
    fn lag_over_is_a_strict_bound(e in 0..1000u64, ms in 0..1000u64, em in proptest::option::of(0..1000u32), mm in proptest::option::of(0..1000u32)) {
        let over = lag_over(e, ms, em, mm);
        let want = em.is_some_and(|m| e > u64::from(m)) || mm.is_some_and(|m| ms > u64::from(m));
        prop_assert_eq!(over, want);
        prop_assert!(!lag_over(e, ms, None, None));
    }
}

#[test]
fn tcp_source_framing() {
    assert_eq!(entry_size(0, 0), Ok(None));
    assert_eq!(entry_size(188, 0), Ok(Some(16356)), "87 whole records");
    assert_eq!(entry_size(188, 1316), Ok(Some(1316)));
    assert_eq!(entry_size(0, 1400), Ok(Some(1400)));
    assert_eq!(entry_size(188, 1400), Err(ArgError::Invalid));
    assert_eq!(entry_size(ENTRY_MAX + 1, 0), Err(ArgError::TooBig));
    assert_eq!(entry_size(188, ENTRY_MAX + 188), Err(ArgError::TooBig));
}

proptest! {
    #[test]
    fn entries_hold_whole_records(r in 1..=ENTRY_MAX, d in 0..=ENTRY_MAX) {
        if let Ok(Some(e)) = entry_size(r, d) {
            prop_assert!(e % r == 0 && e <= ENTRY_MAX && e > 0);
        }
    }
}

#[test]
fn limits_in_order() {
    let l = |raw| Limits::session(raw).check();
    assert!(l([5, 100, 10, 200, 20, 300]).is_ok());
    assert!(l([0; 6]).is_ok());
    assert!(l([10, 0, 10, 0, 0, 0]).is_err(), "burst not below soft");
    assert!(l([0, 0, 20, 0, 20, 0]).is_err(), "soft not below hard");
    assert!(l([30, 0, 0, 0, 20, 0]).is_err(), "burst over hard");
    assert!(l([0, 500, 0, 0, 0, 400]).is_err(), "burst over hard, ms");
    assert!(l([0, 0, 0, 400, 0, 300]).is_err(), "soft over hard, ms");
    // Units are not compared with each other.
    assert!(l([100, 0, 0, 0, 0, 50]).is_ok());
    assert_eq!(entry_size(0, 63), Err(ArgError::Invalid));
    assert_eq!(entry_size(0, 64), Ok(Some(64)));
}
