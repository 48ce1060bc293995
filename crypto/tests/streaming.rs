//! The streaming adapters: chunking never changes the output, EOF (not a short read) ends the
//! object, errors surface as `io::Error`s that wrap the typed [`Error`].

use std::io::{self, Read, Write};

use bytes::Bytes;
use futures::executor::block_on;
use futures::stream::{self, StreamExt, TryStreamExt};

use ferry_crypto::{Algorithm, Error, Opener, Sealer, TAG_LEN, Transform};

use super::common::{self, ALGS, FULL, NAME, S};

const CHUNKS: &[usize] = &[1, 7, 4096, S - 1, S, S + 1, FULL, 1 << 20, usize::MAX];

fn sealer(alg: Algorithm) -> Sealer {
    Sealer::with_salt(&common::master(), NAME, alg, common::salt())
}

fn opener() -> Opener {
    Opener::new(&common::master(), NAME)
}

/// A reader that returns at most `max` bytes per call, as pipes and sockets do.
struct Trickle<'a> {
    data: &'a [u8],
    max: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.max).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn chunks(data: &[u8], size: usize) -> Vec<io::Result<Bytes>> {
    data.chunks(size.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect()
}

#[test]
fn tiny_and_huge_chunks_seal_and_open_identically() {
    for alg in ALGS {
        let plain = common::pattern(3 * S + 5);
        let reference = common::seal_fixed(alg, NAME, &plain);
        for &chunk in CHUNKS {
            let mut sealer = sealer(alg);
            let mut object = Vec::new();
            for piece in plain.chunks(chunk) {
                sealer.push(piece, &mut object).unwrap();
            }
            sealer.finish(&mut object).unwrap();
            common::assert_same(&object, &reference, format!("seal {alg} chunk {chunk}"));

            let (out, res) = common::open_chunked(&common::master(), NAME, &reference, chunk);
            res.unwrap();
            common::assert_same(&out, &plain, format!("open {alg} chunk {chunk}"));
        }
    }
}

/// Sealing a long push on several threads splits the work, never the output: whatever the
/// thread count and push size, the object is byte for byte the one sealed a segment at a time
/// (pushes of exactly one segment never take the many-segment path).
#[test]
fn threads_never_change_the_sealed_object() {
    for alg in ALGS {
        for len in [0, 1, S, 5 * S, 17 * S + 3] {
            let plain = common::pattern(len);
            let mut reference = Vec::new();
            let mut one_at_a_time = sealer(alg);
            for piece in plain.chunks(S) {
                one_at_a_time.push(piece, &mut reference).unwrap();
            }
            one_at_a_time.finish(&mut reference).unwrap();
            for threads in [1, 2, 3, 8] {
                for chunk in [4 * S + 1, 16 * S, usize::MAX] {
                    let mut sealer = sealer(alg).with_threads(threads);
                    let mut object = Vec::new();
                    for piece in plain.chunks(chunk) {
                        sealer.push(piece, &mut object).unwrap();
                    }
                    sealer.finish(&mut object).unwrap();
                    common::assert_same(
                        &object,
                        &reference,
                        format!("{alg}, {len} bytes, {threads} threads, pushes of {chunk}"),
                    );
                }
            }
            let (out, res) = common::open_chunked(&common::master(), NAME, &reference, S + 7);
            res.unwrap();
            common::assert_same(&out, &plain, format!("open {alg}, {len} bytes"));
        }
    }
}

/// The object sealed through `seal_in_place`, `per_call` segments at a time, read into their
/// slots the way a file reader would.
fn seal_by_slots(alg: Algorithm, plain: &[u8], per_call: usize, threads: usize) -> Vec<u8> {
    let mut sealer = sealer(alg).with_threads(threads);
    sealer.expect_plain_len(plain.len() as u64).unwrap();
    let segments: Vec<&[u8]> = if plain.is_empty() {
        vec![&[]]
    } else {
        plain.chunks(S).collect()
    };
    let mut object = Vec::new();
    let calls = segments.len().div_ceil(per_call);
    for (i, group) in segments.chunks(per_call).enumerate() {
        let mut slots = Vec::new();
        for segment in group {
            slots.extend_from_slice(segment);
            slots.extend_from_slice(&[0u8; TAG_LEN]);
        }
        if let Some(header) = sealer.seal_in_place(&mut slots, i + 1 == calls).unwrap() {
            object.extend_from_slice(&header);
        }
        object.extend_from_slice(&slots);
    }
    object
}

/// Sealing in place, in any grouping of segments and on any number of threads, gives the
/// object `push` gives.
#[test]
fn sealing_in_place_gives_the_pushed_object() {
    for alg in ALGS {
        for len in [0, 1, S - 1, S, S + 1, 5 * S, 17 * S + 3] {
            let plain = common::pattern(len);
            let reference = common::seal_fixed(alg, NAME, &plain);
            for per_call in [1, 4, 64] {
                for threads in [1, 3] {
                    common::assert_same(
                        &seal_by_slots(alg, &plain, per_call, threads),
                        &reference,
                        format!(
                            "{alg}, {len} bytes, {per_call} segments a call, {threads} threads"
                        ),
                    );
                }
            }
        }
    }
}

/// Slots laid out wrongly, or plaintext of another length than announced, are refused.
#[test]
fn sealing_in_place_refuses_bad_slots() {
    let alg = Algorithm::Aes256Gcm;
    // A partial segment before the end.
    let mut slots = vec![0u8; S + TAG_LEN - 1];
    assert!(matches!(
        sealer(alg).seal_in_place(&mut slots, false),
        Err(Error::Misuse(_))
    ));
    // An empty final segment after data.
    let mut slots = vec![0u8; 2 * (S + TAG_LEN) - S];
    assert!(matches!(
        sealer(alg).seal_in_place(&mut slots, true),
        Err(Error::Misuse(_))
    ));
    // No room for the final tag.
    assert!(matches!(
        sealer(alg).seal_in_place(&mut [0u8; TAG_LEN - 1], true),
        Err(Error::Misuse(_))
    ));
    // One byte more than announced.
    let mut s = sealer(alg);
    s.expect_plain_len(S as u64).unwrap();
    let mut slots = vec![0u8; S + TAG_LEN + 1 + TAG_LEN];
    assert!(matches!(
        s.seal_in_place(&mut slots, true),
        Err(Error::LengthMismatch { .. })
    ));
    // After a push that left a partial segment.
    let mut s = sealer(alg);
    s.push(&[1, 2, 3], &mut Vec::new()).unwrap();
    assert!(matches!(
        s.seal_in_place(&mut [0u8; TAG_LEN], true),
        Err(Error::Misuse(_))
    ));
}

#[test]
fn empty_pushes_change_nothing() {
    let mut sealer = sealer(Algorithm::Aes256Gcm);
    let mut object = Vec::new();
    sealer.push(b"", &mut object).unwrap();
    sealer.push(b"hel", &mut object).unwrap();
    sealer.push(b"", &mut object).unwrap();
    sealer.push(b"lo", &mut object).unwrap();
    sealer.finish(&mut object).unwrap();
    assert_eq!(
        object,
        common::seal_fixed(Algorithm::Aes256Gcm, NAME, b"hello")
    );
}

#[test]
fn read_adapters_treat_only_eof_as_the_end() {
    for alg in ALGS {
        let plain = common::pattern(2 * S + 5);
        let reference = common::seal_fixed(alg, NAME, &plain);
        for max in [1, 100, S, FULL + 3, usize::MAX] {
            let mut object = Vec::new();
            sealer(alg)
                .reader(Trickle { data: &plain, max })
                .read_to_end(&mut object)
                .unwrap();
            common::assert_same(&object, &reference, format!("{alg} max {max}"));

            let mut back = Vec::new();
            opener()
                .reader(Trickle {
                    data: &reference,
                    max,
                })
                .read_to_end(&mut back)
                .unwrap();
            common::assert_same(&back, &plain, format!("{alg} max {max}"));
        }
    }
}

#[test]
fn write_adapters_round_trip() {
    for alg in ALGS {
        let plain = common::pattern(3 * S);
        let mut writer = sealer(alg).writer(Vec::new());
        for piece in plain.chunks(1000) {
            writer.write_all(piece).unwrap();
        }
        let object = writer.finish().unwrap();
        common::assert_same(&object, &common::seal_fixed(alg, NAME, &plain), alg);

        let mut writer = opener().writer(Vec::new());
        writer.write_all(&object).unwrap();
        common::assert_same(&writer.finish().unwrap(), &plain, alg);
    }
}

#[test]
fn stream_adapters_round_trip_through_a_boxed_byte_stream() {
    for alg in ALGS {
        let plain = common::pattern(2 * S + 5);
        for chunk in [1000, S, 1 << 20] {
            let input: futures::stream::BoxStream<'static, io::Result<Bytes>> =
                stream::iter(chunks(&plain, chunk)).boxed();
            let sealed: futures::stream::BoxStream<'static, io::Result<Bytes>> =
                sealer(alg).stream(input).boxed();
            let opened = opener().stream(sealed);
            let parts: Vec<Bytes> = block_on(opened.try_collect()).unwrap();
            common::assert_same(&parts.concat(), &plain, format!("{alg} chunk {chunk}"));
        }
    }
}

#[test]
fn stream_of_a_tampered_object_yields_the_typed_error_and_ends() {
    let mut object = common::seal_fixed(Algorithm::Aes256Gcm, NAME, &common::pattern(2 * S + 5));
    object[52 + FULL + 3] ^= 0x20;
    let mut opened = opener().stream(stream::iter(chunks(&object, 10_000)));
    let mut released = 0;
    let err = loop {
        match block_on(opened.next()) {
            Some(Ok(b)) => released += b.len(),
            Some(Err(e)) => break e,
            None => panic!("tampered object streamed to the end"),
        }
    };
    assert_eq!(released, S);
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(matches!(
        Error::from_io(&err),
        Some(Error::AuthenticationFailed { segment: 1 })
    ));
    assert!(block_on(opened.next()).is_none());
}

#[test]
fn stream_input_errors_pass_through_and_end_the_stream() {
    let input = stream::iter(vec![
        Ok(Bytes::from_static(b"abc")),
        Err(io::Error::new(
            io::ErrorKind::BrokenPipe,
            "source went away",
        )),
        Ok(Bytes::from_static(b"def")),
    ]);
    let mut sealed = sealer(Algorithm::Aes256Gcm).stream(input);
    let first = block_on(sealed.next()).unwrap().unwrap();
    assert_eq!(first.len(), 52, "the header goes out first");
    let err = block_on(sealed.next()).unwrap().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    assert!(block_on(sealed.next()).is_none());
}

#[test]
fn truncated_stream_reports_unexpected_eof() {
    let object = common::seal_fixed(Algorithm::ChaCha20Poly1305, NAME, &common::pattern(3 * S));
    let cut = &object[..52 + 2 * FULL];
    let mut back = Vec::new();
    let err = opener().reader(cut).read_to_end(&mut back).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert!(matches!(
        Error::from_io(&err),
        Some(Error::Truncated { .. })
    ));
    // Segment 0 verified and came out; segment 1 was held back (it could have been the final
    // one) and never released.
    common::assert_same(&back, &common::pattern(S), "released");
    // The reader keeps failing instead of pretending EOF.
    let mut reader = opener().reader(cut);
    let mut sink = Vec::new();
    assert!(reader.read_to_end(&mut sink).is_err());
    assert!(reader.read(&mut [0; 10]).is_err());
}

#[test]
fn announced_length_must_match_the_source() {
    let mut short = sealer(Algorithm::Aes256Gcm);
    assert_eq!(short.expect_plain_len(10).unwrap(), 52 + 10 + 16);
    let mut out = Vec::new();
    short.push(b"123456789", &mut out).unwrap();
    assert!(matches!(
        short.finish(&mut out),
        Err(Error::LengthMismatch {
            expected: 10,
            actual: 9
        })
    ));

    let mut long = sealer(Algorithm::Aes256Gcm);
    long.expect_plain_len(10).unwrap();
    let err = long.push(b"12345678901", &mut out).unwrap_err();
    assert!(matches!(
        err,
        Error::LengthMismatch {
            expected: 10,
            actual: 11
        }
    ));
    assert!(matches!(long.finish(&mut out), Err(Error::Finished(_))));

    let mut exact = sealer(Algorithm::Aes256Gcm);
    exact.expect_plain_len(5).unwrap();
    let mut out = Vec::new();
    exact.push(b"hello", &mut out).unwrap();
    exact.finish(&mut out).unwrap();
    assert_eq!(
        out,
        common::seal_fixed(Algorithm::Aes256Gcm, NAME, b"hello")
    );
}

#[test]
fn a_sealer_dropped_before_finish_leaves_an_object_readers_reject() {
    let plain = common::pattern(2 * S);
    let mut writer = sealer(Algorithm::Aes256Gcm).writer(Vec::new());
    writer.write_all(&plain).unwrap();
    let partial = writer.get_ref().clone();
    drop(writer);
    let (whole, streamed) = common::open_every_way(NAME, &partial);
    assert!(whole.is_err());
    assert!(matches!(streamed, Some(Error::Truncated { .. })));
}
