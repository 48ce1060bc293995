//! `ferry_key` tokens beyond the vectors: tampering, wrong passphrases, strict syntax.

use ferry_crypto::{Argon2Params, KeyError, KeyToken, MasterKey};

/// The cheapest parameters a writer may use, to keep the tests quick.
fn cheap() -> Argon2Params {
    Argon2Params {
        memory_kib: 65536,
        iterations: 3,
        parallelism: 1,
    }
}

fn wrapped_token() -> (MasterKey, String) {
    let mk = MasterKey::generate().unwrap();
    let token = mk.wrap(b"pass phrase", cheap()).unwrap().to_string();
    (mk, token)
}

fn unlock(token: &str, passphrase: &[u8]) -> Result<MasterKey, KeyError> {
    match KeyToken::parse(token)? {
        KeyToken::Wrapped(w) => w.unlock(passphrase),
        KeyToken::Plain(_) => panic!("not a wrapped token"),
    }
}

#[test]
fn wrap_then_unlock_returns_the_key_and_salts_are_fresh() {
    let (mk, token) = wrapped_token();
    assert!(token.starts_with("ferry1:argon2id:65536:3:1:"));
    assert_eq!(
        unlock(&token, b"pass phrase").unwrap().expose_bytes(),
        mk.expose_bytes()
    );
    let again = mk.wrap(b"pass phrase", cheap()).unwrap().to_string();
    assert_ne!(token, again);
}

#[test]
fn a_wrong_passphrase_is_reported_as_such() {
    let (_, token) = wrapped_token();
    assert!(matches!(
        unlock(&token, b"pass phrase\n"),
        Err(KeyError::WrongPassphrase)
    ));
    assert!(matches!(
        unlock(&token, b""),
        Err(KeyError::WrongPassphrase)
    ));
}

#[test]
fn changing_a_parameter_or_the_salt_is_rejected() {
    let (_, token) = wrapped_token();
    let fields: Vec<&str> = token.split(':').collect();
    // ferry1 argon2id m t p salt wrapped
    let mut p_changed = fields.clone();
    p_changed[4] = "2";
    let mut t_changed = fields.clone();
    t_changed[3] = "4";
    let mut salt_changed = fields.clone();
    // The salt is random: flip a bit of its first byte, so that it always changes (writing a
    // fixed byte there left it unchanged whenever the salt began with that byte).
    let first = u8::from_str_radix(&fields[5][..2], 16).unwrap() ^ 0x01;
    let salt = format!("{first:02x}{}", &fields[5][2..]);
    assert_ne!(salt, fields[5]);
    salt_changed[5] = &salt;
    for tampered in [p_changed, t_changed, salt_changed] {
        let tampered = tampered.join(":");
        assert!(matches!(
            unlock(&tampered, b"pass phrase"),
            Err(KeyError::WrongPassphrase)
        ));
    }
}

#[test]
fn the_wrapped_part_must_be_exactly_96_hex_digits() {
    let (_, token) = wrapped_token();
    let short = &token[..token.len() - 1];
    let long = format!("{token}0");
    for bad in [short, long.as_str()] {
        assert!(
            matches!(KeyToken::parse(bad), Err(KeyError::BadToken { .. })),
            "{bad}"
        );
    }
    let upper = {
        let (head, wrapped) = token.rsplit_once(':').unwrap();
        format!("{head}:{}", wrapped.to_uppercase())
    };
    assert!(matches!(
        KeyToken::parse(&upper),
        Err(KeyError::BadToken { .. })
    ));
}

#[test]
fn malformed_wrapped_tokens_are_bad_tokens() {
    let salt = "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf";
    let wrapped = "ab".repeat(48);
    for bad in [
        format!("ferry1:argon2id:65536:3:4:{salt}"),
        format!("ferry1:argon2id:65536:3:4:{salt}:{wrapped}:"),
        format!("ferry1:argon2id:065536:3:4:{salt}:{wrapped}"),
        format!("ferry1:argon2id:65536:3:4:{}:{wrapped}", &salt[2..]),
        format!("ferry1:argon2id::3:4:{salt}:{wrapped}"),
        format!("ferry1:scrypt:65536:3:4:{salt}:{wrapped}"),
    ] {
        assert!(
            matches!(KeyToken::parse(&bad), Err(KeyError::BadToken { .. })),
            "{bad}"
        );
    }
}

#[test]
fn argon2_rejects_what_it_cannot_run() {
    // p=16 needs m >= 8*p = 128 KiB; m=64 is below that (the reader has no floors, Argon2 has).
    let token = format!(
        "ferry1:argon2id:64:1:16:{}:{}",
        "c0".repeat(16),
        "ab".repeat(48)
    );
    assert!(matches!(unlock(&token, b"x"), Err(KeyError::Argon2(_))));
}
