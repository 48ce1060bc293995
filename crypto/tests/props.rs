//! Property tests: round trips under any chunking; any truncation or single-bit flip is
//! detected.

use proptest::prelude::*;

use ferry_crypto::{Algorithm, Transform};

use super::common::{self, NAME, S};

fn alg() -> impl Strategy<Value = Algorithm> {
    prop_oneof![
        Just(Algorithm::Aes256Gcm),
        Just(Algorithm::ChaCha20Poly1305)
    ]
}

fn object(alg: Algorithm, len: usize) -> Vec<u8> {
    common::seal_fixed(alg, NAME, &common::pattern(len))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_chunking_round_trips(alg in alg(), len in 0..3 * S + 100, cuts in prop::collection::vec(0..3 * S + 200, 0..8)) {
        let plain = common::pattern(len);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(len)).collect();
        cuts.sort_unstable();
        let mut sealer = ferry_crypto::Sealer::with_salt(&common::master(), NAME, alg, common::salt());
        let mut sealed = Vec::new();
        let mut from = 0;
        for &cut in cuts.iter().chain(std::iter::once(&len)) {
            sealer.push(&plain[from..cut], &mut sealed).unwrap();
            from = cut;
        }
        sealer.finish(&mut sealed).unwrap();
        prop_assert!(sealed == object(alg, len));
        let (out, res) = common::open_chunked(&common::master(), NAME, &sealed, cuts.first().copied().unwrap_or(1).max(1));
        prop_assert!(res.is_ok());
        prop_assert!(out == plain);
    }

    #[test]
    fn any_truncation_is_detected(alg in alg(), len in 0..2 * S + 100, cut_seed in any::<prop::sample::Index>()) {
        let sealed = object(alg, len);
        let cut = cut_seed.index(sealed.len());
        let truncated = &sealed[..cut];
        prop_assert!(ferry_crypto::open(&common::master(), NAME, truncated).is_err());
        let (_, res) = common::open_chunked(&common::master(), NAME, truncated, 4093);
        prop_assert!(res.is_err());
    }

    #[test]
    fn any_single_bit_flip_is_detected(alg in alg(), len in 0..2 * S + 100, at in any::<prop::sample::Index>(), bit in 0..8u8) {
        let mut sealed = object(alg, len);
        let i = at.index(sealed.len());
        sealed[i] ^= 1 << bit;
        prop_assert!(ferry_crypto::open(&common::master(), NAME, &sealed).is_err());
        let (out, res) = common::open_chunked(&common::master(), NAME, &sealed, 65552);
        prop_assert!(res.is_err());
        // Only segments before the flipped one may have been released.
        if i >= 52 {
            let segment = (i - 52) / (S + 16);
            prop_assert!(out.len() <= segment * S);
        } else {
            prop_assert!(out.is_empty());
        }
    }
}
