//! Round trips at the sizes around segment boundaries, with both AEADs and random salts.

use ferry_crypto::{Mac, MasterKey, Opener, Sealer, Transform, sealed_len};

use super::common::{self, ALGS, NAME, S};
use super::model;

const SIZES: &[usize] = &[0, 1, 5, S - 1, S, S + 1, 2 * S, 3 * S, 3 * S + 5, 5 * S - 1];

#[test]
fn seal_then_open_returns_the_plaintext() {
    let mk = MasterKey::generate().unwrap();
    let name = mk
        .name_key(Mac::HmacSha256)
        .object_name(common::ANNEX_KEY.as_bytes());
    for alg in ALGS {
        for &len in SIZES {
            let plain = common::pattern(len);
            let object = ferry_crypto::seal(&mk, &name, alg, &plain).unwrap();
            assert_eq!(
                object.len() as u64,
                sealed_len(len as u64).unwrap(),
                "{alg} {len}"
            );
            assert_eq!(
                ferry_crypto::plain_len(object.len() as u64).unwrap(),
                len as u64
            );
            common::assert_same(
                &ferry_crypto::open(&mk, &name, &object).unwrap(),
                &plain,
                format!("{alg} {len}"),
            );
        }
    }
}

#[test]
fn sealer_output_equals_the_independent_model_at_every_size() {
    for alg in ALGS {
        for &len in SIZES {
            let plain = common::pattern(len);
            common::assert_same(
                &common::seal_fixed(alg, NAME, &plain),
                &model::encrypt(alg.id(), 16, &common::salt(), NAME, &plain),
                format!("{alg} {len}"),
            );
        }
    }
}

#[test]
fn every_write_uses_a_fresh_salt() {
    let mk = common::master();
    let a = ferry_crypto::seal(&mk, NAME, ferry_crypto::Algorithm::Aes256Gcm, b"same").unwrap();
    let b = ferry_crypto::seal(&mk, NAME, ferry_crypto::Algorithm::Aes256Gcm, b"same").unwrap();
    assert_ne!(a[20..52], b[20..52]);
    assert_ne!(a[52..], b[52..]);
    assert_eq!(a[..20], b[..20]);
}

#[test]
fn the_empty_object_is_68_bytes_and_a_full_final_segment_is_never_followed_by_an_empty_one() {
    for alg in ALGS {
        assert_eq!(common::seal_fixed(alg, NAME, b"").len(), 68);
        let object = common::seal_fixed(alg, NAME, &common::pattern(2 * S));
        assert_eq!(object.len(), 52 + 2 * (S + 16));
    }
}

#[test]
fn the_header_names_the_algorithm_and_key() {
    let mk = common::master();
    for alg in ALGS {
        let sealer = Sealer::with_salt(&mk, NAME, alg, common::salt());
        let header = ferry_crypto::Header::parse(sealer.header()).unwrap();
        assert_eq!(header.algorithm(), alg);
        assert_eq!(header.key_id(), mk.key_id());
        assert_eq!(header.salt(), &common::salt());
        assert_eq!(header.layout().segment_log2(), 16);
        let object = common::seal_fixed(alg, NAME, b"x");
        let mut opener = Opener::new(&mk, NAME);
        assert!(opener.header().is_none());
        opener.push(&object[..60], &mut Vec::new()).unwrap();
        assert_eq!(opener.header(), Some(&header));
    }
}
