//! Ranged and resumed retrieval (§7).

use std::ops::Range;

use ferry_crypto::{Error, Header, RangeOpener, Transform};

use super::common::{self, ALGS, FULL, NAME, S};
use super::model;

/// Reads `range` from `object` the way the engine would: header, plan, fetch the planned bytes,
/// open them in `chunk`-byte pieces.
fn read_range(object: &[u8], range: Range<u64>, chunk: usize) -> Result<Vec<u8>, Error> {
    let mut opener = RangeOpener::new(
        &common::master(),
        NAME,
        &object[..52],
        object.len() as u64,
        range,
    )?;
    let plan = opener.plan().clone();
    let fetched = &object[plan.cipher_range.start as usize..plan.cipher_range.end as usize];
    let mut out = Vec::new();
    for piece in fetched.chunks(chunk.max(1)) {
        opener.push(piece, &mut out)?;
    }
    opener.finish(&mut out)?;
    assert_eq!(
        out.len() as u64,
        plan.plain_range.end - plan.plain_range.start
    );
    Ok(out)
}

#[test]
fn ranges_at_segment_boundaries_return_exactly_the_slice() {
    let s = S as u64;
    let len = 3 * s + 10;
    let plain = common::pattern(len as usize);
    for alg in ALGS {
        let object = common::seal_fixed(alg, NAME, &plain);
        let ranges = [
            0..1,
            0..s,
            s - 1..s,
            s - 1..s + 1,
            s..s + 1,
            s + 1..2 * s,
            s - 1..2 * s + 1,
            3 * s..len, // the final segment only
            len - 1..len,
            0..len,
            5..u64::MAX,  // to the end
            10..10,       // empty
            len..len + 5, // past the end
        ];
        for range in ranges {
            let want_end = range.end.min(len) as usize;
            let want_start = (range.start as usize).min(want_end);
            for chunk in [7, FULL, usize::MAX] {
                let got = read_range(&object, range.clone(), chunk).unwrap();
                common::assert_same(
                    &got,
                    &plain[want_start..want_end],
                    format!("{alg} {range:?} chunk {chunk}"),
                );
            }
        }
    }
}

#[test]
fn the_plan_fetches_only_the_needed_segments() {
    let object = common::seal_fixed(
        ferry_crypto::Algorithm::Aes256Gcm,
        NAME,
        &common::pattern(3 * S + 10),
    );
    let opener = RangeOpener::new(
        &common::master(),
        NAME,
        &object[..52],
        object.len() as u64,
        S as u64 + 5..S as u64 + 6,
    )
    .unwrap();
    let plan = opener.plan();
    assert_eq!(plan.segments, 1..2);
    assert_eq!(
        plan.cipher_range,
        (52 + FULL) as u64..(52 + 2 * FULL) as u64
    );
    assert_eq!(plan.plain_len, 3 * S as u64 + 10);
    assert_eq!(opener.header().layout().segment_size(), S as u64);
}

#[test]
fn a_lied_length_makes_the_final_flag_fail() {
    for alg in ALGS {
        let plain = common::pattern(3 * S + 10);
        let object = common::seal_fixed(alg, NAME, &plain);
        // The provider claims the object ends after segment 1 (a valid-looking length).
        let lie = (52 + 2 * FULL) as u64;
        let mut opener = RangeOpener::new(
            &common::master(),
            NAME,
            &object[..52],
            lie,
            S as u64..S as u64 + 1,
        )
        .unwrap();
        let plan = opener.plan().clone();
        let mut out = Vec::new();
        let err = opener
            .push(
                &object[plan.cipher_range.start as usize..plan.cipher_range.end as usize],
                &mut out,
            )
            .unwrap_err();
        assert!(
            matches!(err, Error::AuthenticationFailed { segment: 1 }),
            "{err:?}"
        );
        assert!(out.is_empty());
        // Ranges inside earlier segments stay correct (and authentic) despite the lie.
        let mut opener =
            RangeOpener::new(&common::master(), NAME, &object[..52], lie, 0..10).unwrap();
        let mut out = Vec::new();
        opener.push(&object[52..52 + FULL], &mut out).unwrap();
        opener.finish(&mut out).unwrap();
        assert_eq!(out, &plain[..10]);
    }
}

#[test]
fn missing_or_extra_range_bytes_are_rejected() {
    let object = common::seal_fixed(
        ferry_crypto::Algorithm::Aes256Gcm,
        NAME,
        &common::pattern(3 * S),
    );
    let new = || {
        RangeOpener::new(
            &common::master(),
            NAME,
            &object[..52],
            object.len() as u64,
            0..S as u64 + 1,
        )
        .unwrap()
    };
    let mut out = Vec::new();
    let mut short = new();
    short
        .push(&object[52..52 + 2 * FULL - 1], &mut out)
        .unwrap();
    assert!(matches!(
        short.finish(&mut out),
        Err(Error::Truncated { .. })
    ));

    let mut long = new();
    let err = long
        .push(&object[52..52 + 2 * FULL + 1], &mut Vec::new())
        .unwrap_err();
    assert!(matches!(err, Error::TrailingData { segment: 1 }), "{err:?}");
}

#[test]
fn ranged_open_checks_the_header_and_the_length() {
    let object = common::seal_fixed(
        ferry_crypto::Algorithm::Aes256Gcm,
        NAME,
        &common::pattern(10),
    );
    let other = ferry_crypto::MasterKey::from_bytes(&[9; 32]);
    let err = RangeOpener::new(&other, NAME, &object[..52], object.len() as u64, 0..1).unwrap_err();
    assert!(matches!(err, Error::WrongKey { .. }));
    let err = RangeOpener::new(&common::master(), NAME, &object[..40], 100, 0..1).unwrap_err();
    assert!(matches!(err, Error::Truncated { len: 40 }));
    let err = RangeOpener::new(&common::master(), NAME, &object[..52], 52 + 5, 0..1).unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }));
    let err = RangeOpener::new(
        &common::master(),
        NAME,
        &object[..52],
        62,
        Range { start: 3, end: 2 },
    )
    .unwrap_err();
    assert!(matches!(err, Error::InvalidRange { start: 3, end: 2 }));
}

#[test]
fn resume_from_a_segment_boundary_completes_the_plaintext() {
    for alg in ALGS {
        let plain = common::pattern(4 * S + 3);
        let object = common::seal_fixed(alg, NAME, &plain);
        // An interrupted retrieve kept the header and 2.5 segments; truncate down to S·k.
        let kept_header = object[..52].to_vec();
        let partial_len = 2 * S + S / 2;
        let resume_at = (partial_len / S * S) as u64;
        assert_eq!(
            Header::parse(&object[..52]).unwrap(),
            Header::parse(&kept_header).unwrap()
        );
        let rest = read_range(&object, resume_at..u64::MAX, 4096).unwrap();
        let mut resumed = plain[..resume_at as usize].to_vec();
        resumed.extend(rest);
        common::assert_same(&resumed, &plain, alg);
    }
}

#[test]
fn readers_accept_segment_sizes_12_to_20() {
    for alg in ALGS {
        for log2 in [12u8, 13, 16, 20] {
            let s = 1usize << log2;
            // Two or three segments; large segments get fewer, as cipher crates run with debug
            // assertions in test builds.
            let segments = if log2 >= 16 { 1 } else { 3 };
            let plain = common::pattern(segments * s + 7);
            let object = model::encrypt(alg.id(), log2, &common::salt(), NAME, &plain);
            let layout = Header::parse(&object).unwrap().layout();
            assert_eq!(
                layout.plain_len(object.len() as u64).unwrap(),
                plain.len() as u64
            );
            let (whole, streamed) = common::open_every_way(NAME, &object);
            common::assert_same(&whole.unwrap(), &plain, format!("{alg} 2^{log2}"));
            assert!(streamed.is_none());
            let (from, to) = (s as u64 - 1, (s as u64 + 1).min(plain.len() as u64));
            common::assert_same(
                &read_range(&object, from..to, 1000).unwrap(),
                &plain[from as usize..to as usize],
                log2,
            );
        }
        for log2 in [11u8, 21] {
            let object = model::encrypt(alg.id(), log2, &common::salt(), NAME, b"x");
            let (whole, _) = common::open_every_way(NAME, &object);
            assert!(matches!(
                whole,
                Err(Error::BadHeader(ferry_crypto::HeaderError::BadSegmentSize(v))) if v == log2
            ));
        }
    }
}
