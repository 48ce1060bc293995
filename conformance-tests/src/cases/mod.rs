//! The tests, one module per group. Each test is a plain function of the context that returns
//! a [`TestResult`]; [`all`] lists them in run order.

use remote_proto::{Key, Reply, Request};

use crate::ctx::{Ctx, Options};
use crate::remote::Remote;
use crate::verdict::{Fail, TestResult};

pub mod async_jobs;
pub mod data;
pub mod export;
pub mod git_annex;
pub mod handshake;
pub mod keys;
pub mod perf;
pub mod progress;
pub mod robustness;
pub mod safety;

/// A test's body.
pub type Body = Box<dyn Fn(&mut Ctx) -> TestResult>;

/// One named test.
pub struct Test {
    /// Its group (`handshake`, `data`, …).
    pub group: &'static str,
    /// Its name within the group.
    pub name: String,
    /// What it does.
    pub run: Body,
}

impl Test {
    /// A test from a plain function.
    pub fn new(
        group: &'static str,
        name: impl Into<String>,
        f: fn(&mut Ctx) -> TestResult,
    ) -> Test {
        Test {
            group,
            name: name.into(),
            run: Box::new(f),
        }
    }

    /// A test from a closure (for tests made per size or per key).
    pub fn with(
        group: &'static str,
        name: impl Into<String>,
        f: impl Fn(&mut Ctx) -> TestResult + 'static,
    ) -> Test {
        Test {
            group,
            name: name.into(),
            run: Box::new(f),
        }
    }
}

/// The groups, in run order.
pub const GROUPS: [&str; 10] = [
    "handshake",
    "data",
    "odd-keys",
    "progress",
    "async",
    "export",
    "robustness",
    "safety",
    "perf",
    "git-annex",
];

/// Every test, in run order. `handshake/initremote` comes first: the others rely on the
/// configuration it stores.
pub fn all(opts: &Options) -> Vec<Test> {
    let mut tests = Vec::new();
    tests.extend(handshake::tests());
    tests.extend(data::tests(opts));
    tests.extend(keys::tests());
    tests.extend(progress::tests(opts));
    tests.extend(async_jobs::tests());
    tests.extend(export::tests());
    tests.extend(robustness::tests());
    tests.extend(safety::tests(opts));
    tests.extend(perf::tests(opts));
    tests.extend(git_annex::tests(opts));
    tests
}

/// A key that was never stored anywhere (content made for this test and label only).
pub fn absent_key(ctx: &Ctx, label: &str) -> Key {
    ctx.content(label, 7).0
}

/// RETRIEVE of a key that was never stored must be answered TRANSFER-FAILURE (never success,
/// never a crash); shared by the data and robustness groups.
pub fn retrieve_of_absent_fails(ctx: &Ctx, r: &mut Remote) -> Result<(), Fail> {
    let key = absent_key(ctx, "never-stored");
    let dest = ctx.fresh_dest(&key);
    r.request(&crate::remote::transfer(
        remote_proto::Direction::Retrieve,
        &key,
        &dest,
    ))?
    .expect(
        |rep| matches!(rep, Reply::TransferFailure { .. }),
        &format!("TRANSFER-FAILURE RETRIEVE {key} <msg>"),
        "RETRIEVE of a key that was never stored must fail",
    )?;
    Ok(())
}

/// Checks that the remote still answers properly: `CHECKPRESENT` of a key that was never stored
/// must come back `CHECKPRESENT-FAILURE`.
///
/// # Errors
/// When it does not.
pub fn still_answers(ctx: &Ctx, r: &mut Remote) -> Result<(), Fail> {
    let key = absent_key(ctx, "still-answers");
    r.request(&Request::CheckPresent(key.clone()))
        .map_err(|f| f.context("afterwards the remote no longer works"))?
        .expect(
            |rep| matches!(rep, Reply::CheckPresentFailure(_)),
            &format!("CHECKPRESENT-FAILURE {key}"),
            "afterwards the remote no longer answers a plain CHECKPRESENT",
        )?;
    Ok(())
}

/// `amount` per second over `secs` (0 when no time passed), for ops/s and MB/s.
pub fn rate(amount: f64, secs: f64) -> f64 {
    if secs <= 0.0 {
        return 0.0;
    }
    amount / secs
}
