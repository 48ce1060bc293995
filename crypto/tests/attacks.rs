//! Every attack of §6.5 and the negative vectors of §12, each asserting the specific error, in
//! memory and streaming (several chunkings).

use ferry_crypto::{Algorithm, Error, HeaderError, MasterKey, Opener, Transform};

use super::common::{self, ALGS, FULL, NAME, OTHER_NAME, S};
use super::model;

/// A 3-segment object whose final segment is short (3 S + 5 bytes).
fn three_segments(alg: Algorithm) -> Vec<u8> {
    common::seal_fixed(alg, NAME, &common::pattern(2 * S + 5))
}

#[test]
fn truncation_to_header_only_is_truncated() {
    for alg in ALGS {
        let object = three_segments(alg);
        let (whole, streamed) = common::open_every_way(NAME, &object[..52]);
        assert!(
            matches!(whole, Err(Error::Truncated { len: 52 })),
            "{whole:?}"
        );
        assert!(matches!(streamed, Some(Error::Truncated { len: 52 })));
    }
}

#[test]
fn truncation_inside_the_header_is_truncated() {
    let object = three_segments(Algorithm::Aes256Gcm);
    for cut in [0, 1, 8, 20, 51] {
        let (whole, streamed) = common::open_every_way(NAME, &object[..cut]);
        assert!(
            matches!(whole, Err(Error::Truncated { .. })),
            "{cut}: {whole:?}"
        );
        assert!(matches!(streamed, Some(Error::Truncated { .. })));
    }
}

#[test]
fn truncation_at_every_segment_boundary_is_truncated() {
    for alg in ALGS {
        let object = three_segments(alg);
        for segments in [1, 2] {
            let cut = 52 + segments * FULL;
            let (whole, streamed) = common::open_every_way(NAME, &object[..cut]);
            assert!(
                matches!(whole, Err(Error::Truncated { len }) if len == cut as u64),
                "{whole:?}"
            );
            assert!(matches!(streamed, Some(Error::Truncated { .. })));
        }
    }
}

#[test]
fn dropping_the_final_segment_is_truncated() {
    for alg in ALGS {
        // 65537 bytes: a full segment 0 and a 1-byte final segment.
        let object = common::seal_fixed(alg, NAME, &common::pattern(65537));
        let (whole, streamed) = common::open_every_way(NAME, &object[..52 + FULL]);
        assert!(matches!(whole, Err(Error::Truncated { .. })), "{whole:?}");
        assert!(matches!(streamed, Some(Error::Truncated { .. })));
    }
}

#[test]
fn body_lengths_0_to_15_are_truncated() {
    let object = common::seal_fixed(Algorithm::Aes256Gcm, NAME, b"hello");
    for body in 0..16 {
        let (whole, streamed) = common::open_every_way(NAME, &object[..52 + body]);
        assert!(
            matches!(whole, Err(Error::Truncated { .. })),
            "{body}: {whole:?}"
        );
        assert!(matches!(streamed, Some(Error::Truncated { .. })));
    }
}

#[test]
fn full_segment_then_empty_final_segment_is_a_bad_length() {
    // Properly keyed and tagged, but no writer produces it: the length rule alone rejects it.
    for alg in ALGS {
        let plain = common::pattern(S);
        let object = model::encrypt_segments(alg.id(), NAME, &[(&plain, false), (b"", true)]);
        assert_eq!(object.len(), 52 + S + 16 + 16);
        let (whole, streamed) = common::open_every_way(NAME, &object);
        assert!(matches!(whole, Err(Error::BadLength { .. })), "{whole:?}");
        assert!(
            matches!(streamed, Some(Error::BadLength { .. })),
            "{streamed:?}"
        );
    }
}

#[test]
fn swapping_segments_0_and_1_fails_at_segment_0() {
    for alg in ALGS {
        let (header, segs) = common::split(&three_segments(alg));
        let object = [&header[..], &segs[1], &segs[0], &segs[2]].concat();
        let (whole, streamed) = common::open_every_way(NAME, &object);
        assert!(
            matches!(whole, Err(Error::AuthenticationFailed { segment: 0 })),
            "{whole:?}"
        );
        assert!(matches!(
            streamed,
            Some(Error::AuthenticationFailed { segment: 0 })
        ));
    }
}

#[test]
fn duplicating_a_segment_fails_at_the_duplicate() {
    for alg in ALGS {
        let (header, segs) = common::split(&three_segments(alg));
        let object = [&header[..], &segs[0], &segs[0], &segs[2]].concat();
        let (whole, streamed) = common::open_every_way(NAME, &object);
        assert!(
            matches!(whole, Err(Error::AuthenticationFailed { segment: 1 })),
            "{whole:?}"
        );
        assert!(matches!(
            streamed,
            Some(Error::AuthenticationFailed { segment: 1 })
        ));
    }
}

#[test]
fn dropping_a_middle_segment_fails_where_it_was() {
    for alg in ALGS {
        let (header, segs) = common::split(&three_segments(alg));
        let object = [&header[..], &segs[0], &segs[2]].concat();
        let (whole, streamed) = common::open_every_way(NAME, &object);
        assert!(
            matches!(whole, Err(Error::AuthenticationFailed { segment: 1 })),
            "{whole:?}"
        );
        assert!(matches!(
            streamed,
            Some(Error::AuthenticationFailed { segment: 1 })
        ));
    }
}

#[test]
fn appending_a_copy_of_segment_0_is_rejected() {
    for alg in ALGS {
        // Short final segment: the copy is misaligned, so the old final segment fails.
        let object = common::seal_fixed(alg, NAME, &common::pattern(65537));
        let extended = [&object[..], &object[52..52 + FULL]].concat();
        let (whole, streamed) = common::open_every_way(NAME, &extended);
        assert!(
            matches!(whole, Err(Error::AuthenticationFailed { segment: 1 })),
            "{whole:?}"
        );
        assert!(matches!(
            streamed,
            Some(Error::AuthenticationFailed { segment: 1 })
        ));

        // Full final segment: it verifies as final with data after it.
        let object = common::seal_fixed(alg, NAME, &common::pattern(2 * S));
        let extended = [&object[..], &object[52..52 + FULL]].concat();
        let (whole, streamed) = common::open_every_way(NAME, &extended);
        assert!(
            matches!(whole, Err(Error::TrailingData { segment: 1 })),
            "{whole:?}"
        );
        assert!(matches!(streamed, Some(Error::TrailingData { segment: 1 })));
    }
}

#[test]
fn appending_bytes_is_rejected() {
    for alg in ALGS {
        for plain_len in [0, 5, S, 2 * S, 2 * S + 5] {
            let object = common::seal_fixed(alg, NAME, &common::pattern(plain_len));
            for extra in [1usize, 15, 16, 17, FULL] {
                let extended = [&object[..], &vec![0u8; extra]].concat();
                let (whole, streamed) = common::open_every_way(NAME, &extended);
                assert!(whole.is_err(), "{plain_len}+{extra} accepted");
                assert!(
                    streamed.is_some(),
                    "{plain_len}+{extra} accepted when streaming"
                );
            }
        }
        // A whole-segment-aligned extension of a full final segment names the cause.
        let object = common::seal_fixed(alg, NAME, &common::pattern(S));
        let extended = [&object[..], &[0u8; 1]].concat();
        let (_, streamed) = common::open_every_way(NAME, &extended);
        assert!(
            matches!(streamed, Some(Error::TrailingData { segment: 0 })),
            "{streamed:?}"
        );
    }
}

#[test]
fn splicing_a_segment_from_another_upload_of_the_same_key_fails() {
    for alg in ALGS {
        let plain = common::pattern(2 * S + 5);
        let first = three_segments(alg);
        let second = common::seal_with(&common::master(), alg, NAME, [0x55; 32], &plain);
        let (h1, s1) = common::split(&first);
        let (h2, s2) = common::split(&second);
        // Same plaintext, same name: only the salt differs, and that is enough.
        let object = [&h1[..], &s1[0], &s2[1], &s1[2]].concat();
        let (whole, streamed) = common::open_every_way(NAME, &object);
        assert!(
            matches!(whole, Err(Error::AuthenticationFailed { segment: 1 })),
            "{whole:?}"
        );
        assert!(matches!(
            streamed,
            Some(Error::AuthenticationFailed { segment: 1 })
        ));
        // The other upload's header on this body: the first segment fails.
        let object = [&h2[..], &s1[0], &s1[1], &s1[2]].concat();
        let (whole, _) = common::open_every_way(NAME, &object);
        assert!(
            matches!(whole, Err(Error::AuthenticationFailed { segment: 0 })),
            "{whole:?}"
        );
    }
}

#[test]
fn splicing_a_segment_from_another_object_fails() {
    for alg in ALGS {
        let ours = three_segments(alg);
        let theirs = common::seal_fixed(alg, OTHER_NAME, &common::pattern(2 * S + 5));
        let (h, s) = common::split(&ours);
        let (_, t) = common::split(&theirs);
        let object = [&h[..], &s[0], &s[1], &t[2]].concat();
        let (whole, streamed) = common::open_every_way(NAME, &object);
        assert!(
            matches!(whole, Err(Error::AuthenticationFailed { segment: 2 })),
            "{whole:?}"
        );
        assert!(matches!(
            streamed,
            Some(Error::AuthenticationFailed { segment: 2 })
        ));
    }
}

#[test]
fn moving_an_object_to_another_name_fails_at_segment_0() {
    for alg in ALGS {
        for plain_len in [0, 5, 2 * S + 5] {
            let object = common::seal_fixed(alg, NAME, &common::pattern(plain_len));
            let (whole, streamed) = common::open_every_way(OTHER_NAME, &object);
            assert!(
                matches!(whole, Err(Error::AuthenticationFailed { segment: 0 })),
                "{whole:?}"
            );
            assert!(matches!(
                streamed,
                Some(Error::AuthenticationFailed { segment: 0 })
            ));
        }
    }
}

/// The error an edit of header byte `i` to `value` must produce.
fn expected_header_error(i: usize, value: u8, err: &Error) -> bool {
    match i {
        0..8 => matches!(err, Error::BadHeader(HeaderError::BadMagic)),
        8 => matches!(err, Error::UnsupportedVersion { found } if *found == value),
        9 if value == 1 || value == 2 => matches!(err, Error::AuthenticationFailed { segment: 0 }),
        9 => matches!(err, Error::BadHeader(HeaderError::UnknownAlgorithm(v)) if *v == value),
        // Another accepted segment size: a different file key (and maybe another length split).
        10 if (12..=20).contains(&value) => matches!(
            err,
            Error::AuthenticationFailed { .. } | Error::BadLength { .. } | Error::Truncated { .. }
        ),
        10 => matches!(err, Error::BadHeader(HeaderError::BadSegmentSize(v)) if *v == value),
        11 => matches!(err, Error::BadHeader(HeaderError::ReservedFlags(v)) if *v == value),
        12..20 => matches!(err, Error::WrongKey { .. }),
        _ => matches!(err, Error::AuthenticationFailed { segment: 0 }),
    }
}

#[test]
fn editing_any_header_byte_is_rejected_with_the_matching_error() {
    for alg in ALGS {
        for plain_len in [0, 5, 65537] {
            let object = common::seal_fixed(alg, NAME, &common::pattern(plain_len));
            for i in 0..52 {
                for mask in [0x01u8, 0x02, 0x80, 0xff] {
                    let mut edited = object.clone();
                    edited[i] ^= mask;
                    let (whole, streamed) = common::open_every_way(NAME, &edited);
                    let whole = whole.expect_err("edited header accepted");
                    assert!(
                        expected_header_error(i, edited[i], &whole),
                        "byte {i} ^ {mask:#x}: {whole:?}"
                    );
                    let streamed = streamed.expect("edited header accepted when streaming");
                    assert!(
                        expected_header_error(i, edited[i], &streamed),
                        "byte {i} ^ {mask:#x} streaming: {streamed:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn a_wrong_master_key_is_reported_as_wrong_key_not_corruption() {
    let other = MasterKey::from_bytes(&[0x42; 32]);
    for alg in ALGS {
        let object = common::seal_fixed(alg, NAME, b"hello");
        let err = ferry_crypto::open(&other, NAME, &object).unwrap_err();
        let Error::WrongKey { expected, found } = err else {
            panic!("expected WrongKey, got {err:?}");
        };
        assert_eq!(expected, other.key_id());
        assert_eq!(found, common::master().key_id());
        let (_, res) = common::open_chunked(&other, NAME, &object, 7);
        assert!(matches!(res, Err(Error::WrongKey { .. })));
        let msg = err.to_string();
        assert!(
            msg.contains("different master key") && msg.contains("c4e89cc483f1d7a8"),
            "{msg}"
        );
    }
}

#[test]
fn foreign_data_is_not_a_ferry_object() {
    let gpg = b"\x8c\x0d\x04\x09\x03\x02 some gpg symmetric packet padding padding padding";
    let (whole, streamed) = common::open_every_way(NAME, gpg);
    assert!(matches!(
        whole,
        Err(Error::BadHeader(HeaderError::BadMagic))
    ));
    assert!(matches!(
        streamed,
        Some(Error::BadHeader(HeaderError::BadMagic))
    ));
}

#[test]
fn no_plaintext_of_a_failing_segment_is_released() {
    for alg in ALGS {
        let plain = common::pattern(2 * S + 5);
        let mut object = three_segments(alg);
        // Corrupt the tag of segment 1.
        object[52 + 2 * FULL - 1] ^= 1;
        for chunk in [1000, FULL, object.len()] {
            let (released, res) = common::open_chunked(&common::master(), NAME, &object, chunk);
            assert!(matches!(
                res,
                Err(Error::AuthenticationFailed { segment: 1 })
            ));
            common::assert_same(&released, &plain[..S], format!("chunk {chunk}"));
        }
        // Corrupt the final segment: everything before it comes out, nothing of it.
        let mut object = three_segments(alg);
        let last = object.len() - 20;
        object[last] ^= 1;
        let (released, res) = common::open_chunked(&common::master(), NAME, &object, 4096);
        assert!(matches!(
            res,
            Err(Error::AuthenticationFailed { segment: 2 })
        ));
        common::assert_same(&released, &plain[..2 * S], alg);
    }
}

#[test]
fn an_opener_refuses_use_after_failure_or_finish() {
    let mk = common::master();
    let object = common::seal_fixed(Algorithm::Aes256Gcm, NAME, b"hello");
    let mut opener = Opener::new(&mk, OTHER_NAME);
    let mut out = Vec::new();
    opener.push(&object, &mut out).unwrap();
    assert!(matches!(
        opener.finish(&mut out),
        Err(Error::AuthenticationFailed { segment: 0 })
    ));
    assert!(matches!(
        opener.push(b"x", &mut out),
        Err(Error::Finished(_))
    ));
    assert!(out.is_empty());
}

#[test]
fn error_messages_say_what_to_do_and_carry_no_secrets() {
    let object = three_segments(Algorithm::Aes256Gcm);
    let errors = [
        ferry_crypto::open(&common::master(), NAME, &object[..52]).unwrap_err(),
        ferry_crypto::open(&common::master(), OTHER_NAME, &object).unwrap_err(),
    ];
    for err in errors {
        let msg = err.to_string();
        assert!(msg.contains("retrieve"), "{msg}");
        assert!(!msg.contains("000102"), "{msg}");
    }
}
