use crate::args::*;

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
