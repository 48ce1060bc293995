//! Every test vector of shared/crypto-format.md §12 (file keys and the Argon2 KEK are checked by
//! unit tests in src/keys.rs, the aead-stream equivalence in src/cipher.rs).

use ferry_crypto::{
    Algorithm, Argon2Params, KeyToken, Mac, Opener, Transform, parse_object_name, sealed_len,
};
use md5::Md5;
use sha2::{Digest as _, Sha256};

use super::common::{self, ANNEX_KEY, NAME};

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn dirhash_lower(name: &str) -> String {
    let h = hex::encode(<Md5 as md5::Digest>::digest(name.as_bytes()));
    format!("{}/{}/", &h[..3], &h[3..6])
}

#[test]
fn key_id_and_name_keys() {
    let mk = common::master();
    assert_eq!(mk.key_id().to_string(), "c4e89cc483f1d7a8");
    assert_eq!(
        hex::encode(mk.name_key(Mac::HmacSha256).expose_bytes()),
        "a69439c812dce591a7b1d883f84e8cf610b96ed718e6580c6fc59c4db4175f6e"
    );
    assert_eq!(
        hex::encode(mk.name_key(Mac::HmacSha512).expose_bytes()),
        "7755d602d861d79d5a9e95951b9099589ec9acc875ce40c76538f67c436d8eae\
         8a646b0b60e28e4059ddcc8d1deb8411f2c3a52976e0368b57947fb19942b00c"
    );
}

const CHUNK_KEY: &str = "SHA256E-s104857600-S52428800-C2--3b1fc5c1e0a07dd1dbd3c24e5a2f7bd9ae94c8e1e3a7c0d5b6f4e2a1c9d8b7a6.mp4";
const WORM_KEY: &str = "WORM-s1234-m1700000000--photo_2024.jpg";

/// (annex key, mac, object name, dirhash-lower of the object name)
const NAMES: &[(&str, Mac, &str, &str)] = &[
    (
        ANNEX_KEY,
        Mac::HmacSha256,
        "FERRYHMACSHA256--acf2ff4f365c39abcfcde67a65b4fb3d88f50bf401824b8c353e225cc26e636d",
        "d31/e82/",
    ),
    (
        ANNEX_KEY,
        Mac::HmacSha512,
        "FERRYHMACSHA512--f74259cf1de3a93913e763137df7fec7febdebc28014c55c4636fa5c542bd95c8be4e5bc4087402bc9214c5d7c5331bf4ccb18aa1a346b5d3aa0244ee837fdec",
        "d91/919/",
    ),
    (
        CHUNK_KEY,
        Mac::HmacSha256,
        "FERRYHMACSHA256--83af60cd346ac7a7c1fb5c130e48dad064e161f885e7bc7f388754f898e3b27d",
        "9a8/25d/",
    ),
    (
        CHUNK_KEY,
        Mac::HmacSha512,
        "FERRYHMACSHA512--3eae9b30179bee4120730e2b26664319280a42b51ba66d43358537e0e373664ed2b3aafef7a24389e1d9c6a5764866544393b937579bd6566a0c9463ebb56962",
        "1c3/840/",
    ),
    (
        WORM_KEY,
        Mac::HmacSha256,
        "FERRYHMACSHA256--23ee332ea253fd500d7ee386a18f8c53cb49d207b60fcd80f7ba0c10ce97108c",
        "bf6/d74/",
    ),
    (
        WORM_KEY,
        Mac::HmacSha512,
        "FERRYHMACSHA512--edafdf8ac4acae4f9785fe88fcb7e74d53e6a6183fd03f807772e520a5e70f1f7c28b12ee515ec20f00e76d6a75251a7ce143292884ca22f907af20b6cc17bd1",
        "e10/a31/",
    ),
];

#[test]
fn object_names() {
    let mk = common::master();
    for &(key, mac, name, _) in NAMES {
        let name_key = mk.name_key(mac);
        assert_eq!(name_key.object_name(key.as_bytes()), name, "{key} {mac}");
        assert_eq!(ferry_crypto::object_name(&name_key, key.as_bytes()), name);
        assert_eq!(name.len(), mac.name_len());
        assert_eq!(parse_object_name(name), Some(mac));
    }
}

#[test]
fn dirhash_lower_is_taken_of_the_object_name() {
    for &(_, _, name, dirhash) in NAMES {
        assert_eq!(dirhash_lower(name), dirhash, "{name}");
    }
    // The value that MUST NOT be used: the plaintext key's own hash.
    assert_eq!(dirhash_lower(ANNEX_KEY), "091/de9/");
}

struct ContentVector {
    alg: Algorithm,
    header: &'static str,
    empty_tag: &'static str,
    empty_sha256: &'static str,
    hello_body: &'static str,
    hello_sha256: &'static str,
    big_sha256: &'static str,
    big_first_32: &'static str,
    big_seg0_tag: &'static str,
    big_seg1: &'static str,
}

const CONTENT: &[ContentVector] = &[
    ContentVector {
        alg: Algorithm::Aes256Gcm,
        header: "8946455252590d0a01011000c4e89cc483f1d7a8a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf",
        empty_tag: "5c44c64264b10d8f9d53a8436720a34d",
        empty_sha256: "1c1be8d457aa0acdc2fa4a0aef0dba5b30f419c551681d95d85ad2f1c868ea46",
        hello_body: "a5dc125638d39b367849deb54ffb442c17093264e4",
        hello_sha256: "d5063c51c83eb27e8953ddb9a9778dc76d4f7986a4525b8ea802bfa4a9e7c3a8",
        big_sha256: "b9f59772547d1b942bbe86db032bd840bce483678be11380a5e4a75e366141ff",
        big_first_32: "f8e7bc3065e52d7e4ae46f143c1f4661236912dd8eb0c8ed467eb695ca398495",
        big_seg0_tag: "09c7c48ebe9feb7d476b163647cb5049",
        big_seg1: "c38d9a45320e735571981847bff15f13db",
    },
    ContentVector {
        alg: Algorithm::ChaCha20Poly1305,
        header: "8946455252590d0a01021000c4e89cc483f1d7a8a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf",
        empty_tag: "083f813f4cbe171348bea58b4e92b82f",
        empty_sha256: "188cb294ba9f4d81021a9eef7e222b81024cbca4c0aec8488d05c049cd622b0b",
        hello_body: "fbf385ba8e0fdea6e9a94100df9f0b5e8fa6d9d7e7",
        hello_sha256: "ab1c29ecb327f23f1399b2fea9435ff1af6215cd527e44da1d38cc6b204037ac",
        big_sha256: "8b0e0e8f96b6fe8c02abe0392627e37047e7202f5f309d87229d0125b4f25c98",
        big_first_32: "609a653bff608cd1be62571e9cdebac3a7e2b6840b43f487d1a9d59b233aa471",
        big_seg0_tag: "8e249f62645ab07c61115c7a640809d3",
        big_seg1: "b2f5a19cb77c5710f2d7f7a405b4538d05",
    },
];

#[test]
fn the_big_plaintext_is_the_one_of_the_spec() {
    assert_eq!(
        sha256_hex(&common::pattern(65537)),
        "237356e18b503616912abb8ffaed3a72591e397d4ac294c4637917d48a3f529d"
    );
}

#[test]
fn content_vectors_seal_exactly() {
    for v in CONTENT {
        let empty = common::seal_fixed(v.alg, NAME, b"");
        assert_eq!(empty.len(), 68);
        assert_eq!(
            hex::encode(&empty),
            format!("{}{}", v.header, v.empty_tag),
            "{}",
            v.alg
        );
        assert_eq!(sha256_hex(&empty), v.empty_sha256);

        let hello = common::seal_fixed(v.alg, NAME, b"hello");
        assert_eq!(hello.len(), 73);
        assert_eq!(hex::encode(&hello), format!("{}{}", v.header, v.hello_body));
        assert_eq!(sha256_hex(&hello), v.hello_sha256);

        let big = common::seal_fixed(v.alg, NAME, &common::pattern(65537));
        assert_eq!(big.len(), 65621);
        assert_eq!(sealed_len(65537).unwrap(), 65621);
        assert_eq!(sha256_hex(&big), v.big_sha256, "{}", v.alg);
        assert_eq!(hex::encode(&big[..52]), v.header);
        assert_eq!(hex::encode(&big[52..84]), v.big_first_32);
        assert_eq!(hex::encode(&big[52 + 65536..52 + 65552]), v.big_seg0_tag);
        assert_eq!(hex::encode(&big[65604..]), v.big_seg1);
    }
}

#[test]
fn content_vectors_open_back() {
    let mk = common::master();
    for v in CONTENT {
        for plain in [&b""[..], b"hello", &common::pattern(65537)] {
            let object = common::seal_fixed(v.alg, NAME, plain);
            common::assert_same(
                &ferry_crypto::open(&mk, NAME, &object).unwrap(),
                plain,
                v.alg,
            );
            let mut opener = Opener::new(&mk, NAME);
            let mut out = Vec::new();
            opener.push(&object, &mut out).unwrap();
            opener.finish(&mut out).unwrap();
            common::assert_same(&out, plain, v.alg);
            assert_eq!(opener.header().unwrap().algorithm(), v.alg);
        }
    }
}

#[test]
fn content_vectors_match_the_independent_model() {
    for v in CONTENT {
        for plain in [&b""[..], b"hello", &common::pattern(65537)] {
            let model = super::model::encrypt(v.alg.id(), 16, &common::salt(), NAME, plain);
            common::assert_same(&common::seal_fixed(v.alg, NAME, plain), &model, v.alg);
        }
    }
}

const PASSPHRASE: &[u8] = b"correct horse battery staple";

fn argon_salt() -> [u8; 16] {
    std::array::from_fn(|i| 0xc0 + i as u8)
}

#[test]
fn plain_token_vector() {
    let token = common::master().to_plain_token();
    assert_eq!(
        token.expose().as_str(),
        "ferry1:plain:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    );
    assert_eq!(token.expose().len(), 77);
}

/// Token vectors: the default parameters and the m=65536 variant.
#[test]
fn wrapped_token_vectors() {
    let cases = [
        (
            Argon2Params::default(),
            "ferry1:argon2id:262144:3:4:c0c1c2c3c4c5c6c7c8c9cacbcccdcecf:c2bae9d9497e2bfedc42e13993526be4c038ffe848826807425826b09ef3e3fc45e26ca11b0e6a6ccb2222a538f4f99c",
        ),
        (
            Argon2Params {
                memory_kib: 65536,
                ..Argon2Params::default()
            },
            "ferry1:argon2id:65536:3:4:c0c1c2c3c4c5c6c7c8c9cacbcccdcecf:772d532326757e07f2650fdece1fb9e2ad3511cf553a137a000d9584933f515bb4fa1bf505dacdddb9f277999ceb93e7",
        ),
    ];
    let mk = common::master();
    for (params, token) in cases {
        let wrapped = mk.wrap_with_salt(PASSPHRASE, params, argon_salt()).unwrap();
        assert_eq!(wrapped.to_string(), token);
        let KeyToken::Wrapped(parsed) = KeyToken::parse(token).unwrap() else {
            panic!("wrapped token parsed as plain");
        };
        assert_eq!(parsed, wrapped);
        assert_eq!(parsed.params(), params);
        let back = parsed.unlock(PASSPHRASE).unwrap();
        assert_eq!(back.expose_bytes(), mk.expose_bytes());
    }
}
