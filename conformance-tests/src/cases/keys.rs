//! odd-keys: keys that break naive remotes (escaped spaces, unicode, chunk and GPGHMAC keys,
//! long names, URL keys with `/ : & %`) and keys crafted to climb out of the store with `..`.
//! Every test snapshots the sandbox outside the store before and after: nothing may appear
//! there except the RETRIEVE destination the suite asked for.

use std::path::PathBuf;

use remote_proto::{Direction, Key, Reply, Request};

use super::Test;
use crate::content::hex;
use crate::ctx::Ctx;
use crate::remote::transfer;
use crate::sandbox::Snapshot;
use crate::verdict::{Fail, TestResult, Verdict};

const G: &str = "odd-keys";

/// How a key's test treats it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A key git-annex really produces: it must store and retrieve like any other.
    Real,
    /// A key made to escape the store: refusing it is fine, writing outside the store is not.
    Hostile,
}

/// Where git-annex puts the STORE source for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// `.git/annex/objects/…` (a plain key).
    Objects,
    /// `.git/annex/tmp/…` (chunks and encrypted content).
    Tmp,
}

struct OddKey {
    name: &'static str,
    key: fn(&str) -> String,
    size: u64,
    kind: Kind,
    source: Source,
}

fn odd_keys() -> Vec<OddKey> {
    use Kind::*;
    use Source::*;
    vec![
        OddKey {
            name: "worm_escaped_space",
            key: |n| format!("WORM-s11-m1795485860--hello,32world,32{n}.txt"),
            size: 11,
            kind: Real,
            source: Objects,
        },
        OddKey {
            name: "unicode_name",
            key: |n| format!("WORM-s5-m1795485860--ünïcödé-名前-{n}.txt"),
            size: 5,
            kind: Real,
            source: Objects,
        },
        OddKey {
            name: "chunk_key",
            key: |n| format!("MD5E-s2500-S1000-C2--{}.bin", hex(n, 32)),
            size: 1000,
            kind: Real,
            source: Tmp,
        },
        OddKey {
            name: "chunk_key_last_short",
            key: |n| format!("MD5E-s2500-S1000-C3--{}.bin", hex(n, 32)),
            size: 500,
            kind: Real,
            source: Tmp,
        },
        OddKey {
            name: "gpghmac_sha1",
            key: |n| format!("GPGHMACSHA1--{}", hex(&format!("sha1{n}"), 40)),
            size: 76,
            kind: Real,
            source: Tmp,
        },
        OddKey {
            name: "gpghmac_sha512",
            key: |n| format!("GPGHMACSHA512--{}", hex(&format!("sha512{n}"), 128)),
            size: 1051,
            kind: Real,
            source: Tmp,
        },
        OddKey {
            name: "long_extension",
            key: |n| {
                format!(
                    "SHA256E-s100--{}.{}",
                    hex(&format!("ext{n}"), 64),
                    "abcdefghi".repeat(7)
                )
            },
            size: 100,
            kind: Real,
            source: Objects,
        },
        OddKey {
            name: "long_worm_name",
            key: |n| format!("WORM-s9-m1795485860--{}-{n}", "long_name".repeat(20)),
            size: 9,
            kind: Real,
            source: Objects,
        },
        OddKey {
            name: "url_key",
            key: |n| format!("URL--http://example.com/a:b&c%20d/{n}?x=1&y=%2F"),
            size: 20,
            kind: Real,
            source: Objects,
        },
        OddKey {
            name: "vurl_key",
            key: |n| format!("VURL-s6--https://example.com:8443/dir/{n}/hello.txt"),
            size: 6,
            kind: Real,
            source: Objects,
        },
        OddKey {
            name: "escape_url_dotdot",
            key: |_| "URL--http://x/../../../../etc/evil".to_owned(),
            size: 13,
            kind: Hostile,
            source: Objects,
        },
        OddKey {
            name: "escape_url_deep",
            key: |n| {
                format!(
                    "URL--http://x/{}tmp/ferry-conformance-evil-{n}",
                    "../".repeat(16)
                )
            },
            size: 13,
            kind: Hostile,
            source: Objects,
        },
        OddKey {
            name: "escape_worm_dotdot",
            key: |_| "WORM-s1-m1--..".to_owned(),
            size: 1,
            kind: Hostile,
            source: Objects,
        },
        OddKey {
            name: "escape_url_name_dotdot",
            key: |_| "URL--..".to_owned(),
            size: 3,
            kind: Hostile,
            source: Objects,
        },
    ]
}

/// The tests of this group.
pub fn tests() -> Vec<Test> {
    odd_keys()
        .into_iter()
        .map(|k| {
            let name = k.name;
            Test::with(G, name, move |ctx| run(ctx, &k))
        })
        .collect()
}

/// Absolute places a naive join of the hostile keys could reach from a shallow store.
fn canaries(nonce: &str) -> Vec<PathBuf> {
    vec![
        PathBuf::from("/etc/evil"),
        PathBuf::from("/tmp/etc/evil"),
        PathBuf::from(format!("/tmp/ferry-conformance-evil-{nonce}")),
    ]
}

/// What the sandbox looked like before a test, to tell where the remote wrote.
struct Watch {
    before: Snapshot,
    canaries: Vec<PathBuf>,
    allowed: Vec<PathBuf>,
}

impl Watch {
    /// Fails when anything appeared outside the store (removing canaries it finds).
    fn check(&self, ctx: &Ctx, key: &Key, when: &str) -> Result<(), Fail> {
        let mut escaped = self.before.changes(&ctx.sandbox.snapshot(), &self.allowed);
        for c in &self.canaries {
            if c.exists() {
                escaped.push(format!("created {}", c.display()));
                let _ = std::fs::remove_file(c);
            }
        }
        if escaped.is_empty() {
            Ok(())
        } else {
            Err(Fail::new(format!(
                "{when}, the remote had written outside its store for key {key}: {}",
                escaped.join(", ")
            )))
        }
    }
}

fn run(ctx: &mut Ctx, odd: &OddKey) -> TestResult {
    let nonce = ctx.nonce().replace('-', "");
    let text = (odd.key)(&nonce);
    let key = Key::parse(&text).map_err(|e| Fail::new(format!("internal: bad key {text}: {e}")))?;
    let data = ctx.content_for(&key, odd.size);
    // Chunks and encrypted content are stored from, and retrieved into, the same tmp path.
    let dest = ctx.fresh_dest(&key);
    let src = match odd.source {
        Source::Objects => ctx.source(&key, &data)?,
        Source::Tmp => ctx.sandbox.tmp_source(&key, &data)?,
    };
    let watch = Watch {
        canaries: canaries(&nonce)
            .into_iter()
            .filter(|p| !p.exists())
            .collect(),
        allowed: vec![ctx.sandbox.abs(&dest), ctx.sandbox.abs(&src)],
        before: ctx.sandbox.snapshot(),
    };
    let result = cycle(ctx, odd, &key, &src, &dest, &data, &watch);
    // Checked again at the end: a failed cycle may still have written somewhere.
    let at_end = watch.check(ctx, &key, "at the end");
    result.and_then(|verdict| at_end.map(|()| verdict))
}

fn cycle(
    ctx: &mut Ctx,
    odd: &OddKey,
    key: &Key,
    src: &str,
    dest: &str,
    data: &[u8],
    watch: &Watch,
) -> TestResult {
    let mut r = ctx.start()?;
    let ex = r.request(&transfer(Direction::Store, key, src))?;
    // Right after the STORE, before a REMOVE could delete what went astray.
    watch.check(ctx, key, "after STORE")?;
    match (ex.reply(), odd.kind) {
        (Some(Reply::TransferSuccess { .. }), _) => {}
        (Some(Reply::TransferFailure { msg, .. }), Kind::Hostile) => {
            // Refused: it must then not claim to have it.
            let ex2 = r.request(&Request::CheckPresent(key.clone()))?;
            if matches!(ex2.reply(), Some(Reply::CheckPresentSuccess(_))) {
                return Err(Fail::exchange(
                    "the STORE was refused, yet CHECKPRESENT says present",
                    &ex2.sent,
                    format!("CHECKPRESENT-FAILURE {key}"),
                    ex2.received(),
                ));
            }
            let _ = r.request(&Request::Remove(key.clone()))?;
            return Ok(Verdict::Pass(format!("refused: {msg}")));
        }
        _ => {
            return Err(Fail::exchange(
                "STORE of this key failed",
                &ex.sent,
                format!("TRANSFER-SUCCESS STORE {key}"),
                ex.received(),
            ));
        }
    }
    r.expect_present(key)?;
    if src == dest {
        // git-annex deletes its tmp file once the STORE is done.
        let _ = std::fs::remove_file(ctx.sandbox.abs(dest));
    }
    let ex = r.retrieve(key, dest)?;
    ctx.check_retrieved(&ex, dest, data)?;
    // A fresh process must find it too (a remote may name objects differently per process).
    drop(r);
    let mut r = ctx.start()?;
    r.expect_present(key)
        .map_err(|f| f.context("in a new process"))?;
    r.remove(key)?;
    r.expect_absent(key)
        .map_err(|f| f.context("after REMOVE"))?;
    Ok(Verdict::Pass(String::new()))
}
