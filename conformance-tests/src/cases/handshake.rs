//! handshake: the start of a session and the small requests around it, as git-annex
//! 10.20261026 sends them.

use remote_proto::{Extension, Reply, Request};

use super::{Test, still_answers};
use crate::annex::QueryPolicy;
use crate::ctx::Ctx;
use crate::remote::GIT_ANNEX_EXTENSIONS;
use crate::verdict::{Fail, TestResult, Verdict};

const G: &str = "handshake";

/// The tests of this group.
pub fn tests() -> Vec<Test> {
    vec![
        Test::new(G, "initremote", initremote),
        Test::new(G, "version", version),
        Test::new(G, "extensions", extensions),
        Test::new(G, "initremote_again_keeps_config", initremote_again),
        Test::new(G, "initremote_probe_processes", probe_processes),
        Test::new(G, "prepare", prepare),
        Test::new(G, "listconfigs", listconfigs),
        Test::new(G, "getcost", getcost),
        Test::new(G, "getavailability", getavailability),
        Test::new(G, "getinfo", getinfo),
        Test::new(G, "exportsupported", exportsupported),
        Test::new(G, "getordered", getordered),
        Test::new(G, "unknown_request", unknown_request),
    ]
}

/// What `git annex initremote` does in its last process: LISTCONFIGS, then INITREMOTE. The
/// SETCONFIGs sent during INITREMOTE are persisted for every later process.
fn initremote(ctx: &mut Ctx) -> TestResult {
    let mut r = ctx.connect()?;
    r.request(&Request::ListConfigs)?;
    let ex = r.request(&Request::InitRemote)?.expect(
        |rep| matches!(rep, Reply::InitRemoteSuccess),
        "INITREMOTE-SUCCESS",
        "INITREMOTE failed",
    )?;
    let stored: Vec<String> = ex
        .notes
        .iter()
        .filter(|n| n.starts_with("SETCONFIG") || n.starts_with("SETCREDS"))
        .cloned()
        .collect();
    Ok(Verdict::Pass(if stored.is_empty() {
        "stored no settings".to_owned()
    } else {
        format!("stored: {}", stored.join("; "))
    }))
}

fn version(ctx: &mut Ctx) -> TestResult {
    let r = ctx.spawn()?;
    Ok(Verdict::Pass(match r.version {
        2 => "VERSION 2".to_owned(),
        n => format!("VERSION {n} (2 is better: it locks out git-annex builds with an export bug)"),
    }))
}

fn extensions(ctx: &mut Ctx) -> TestResult {
    let mut r = ctx.spawn()?;
    let got = r.negotiate(&GIT_ANNEX_EXTENSIONS)?;
    let names: Vec<&str> = got.iter().map(Extension::as_str).collect();
    Ok(Verdict::Pass(if names.is_empty() {
        "asked for none".to_owned()
    } else {
        format!("asked for {}", names.join(" "))
    }))
}

/// `enableremote` and autoenable run INITREMOTE again; it must succeed and must not rewrite
/// stored settings with defaults (git-annex-remote-rclone#33).
fn initremote_again(ctx: &mut Ctx) -> TestResult {
    let before = ctx.annex.borrow().config.clone();
    let mut r = ctx.connect()?;
    r.request(&Request::ListConfigs)?;
    r.request(&Request::InitRemote)?.expect(
        |rep| matches!(rep, Reply::InitRemoteSuccess),
        "INITREMOTE-SUCCESS",
        "a second INITREMOTE (enableremote) failed",
    )?;
    let after = ctx.annex.borrow().config.clone();
    let changed: Vec<String> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, v)| {
            format!(
                "{k}: {:?} -> {v:?}",
                before.get(k).map(String::as_str).unwrap_or("")
            )
        })
        .collect();
    if changed.is_empty() {
        Ok(Verdict::Pass(String::new()))
    } else {
        Err(Fail::new(format!(
            "the second INITREMOTE changed stored settings: {}",
            changed.join(", ")
        )))
    }
}

/// Before INITREMOTE, git-annex 10.20261026 starts short processes for LISTCONFIGS,
/// EXPORTSUPPORTED and IMPORTSUPPORTED, without PREPARE, and refuses GETUUID and friends in
/// them with `ERROR cannot send … here`. Each must get a valid answer.
fn probe_processes(ctx: &mut Ctx) -> TestResult {
    for req in [
        Request::ListConfigs,
        Request::ExportSupported,
        Request::ImportSupported,
    ] {
        let mut r = ctx.connect()?;
        r.policy = QueryPolicy::RefuseIdentity;
        let ex = r
            .request(&req)
            .map_err(|f| f.context(format!("{} process", req.verb())))?;
        if let Some(Reply::Error(msg)) = ex.reply() {
            return Err(Fail::exchange(
                format!(
                    "{} was answered with ERROR, which fails git annex initremote",
                    req.verb()
                ),
                &ex.sent,
                format!("a reply to {} or UNSUPPORTED-REQUEST", req.verb()),
                format!("ERROR {msg}"),
            ));
        }
        r.close_stdin();
        if r.wait_exit(ctx.opts.timeout).is_none() {
            return Err(Fail::new(format!(
                "after {} and EOF on stdin the remote did not exit",
                req.verb()
            )));
        }
    }
    Ok(Verdict::Pass(String::new()))
}

fn prepare(ctx: &mut Ctx) -> TestResult {
    let mut r = ctx.connect()?;
    let ex = r.prepare()?;
    Ok(Verdict::Pass(format!(
        "{:.1} ms",
        ex.elapsed.as_secs_f64() * 1000.0
    )))
}

/// If LISTCONFIGS is implemented, git-annex rejects every initremote parameter it does not
/// list (`Unexpected parameters`), so each `-c` name must be listed.
fn listconfigs(ctx: &mut Ctx) -> TestResult {
    let mut r = ctx.connect()?;
    let ex = r.request(&Request::ListConfigs)?;
    match ex.reply() {
        Some(Reply::UnsupportedRequest) => {
            return Ok(Verdict::Pass(
                "not implemented (git-annex then accepts any parameter)".to_owned(),
            ));
        }
        Some(Reply::ConfigEnd) => {}
        _ => {
            return Err(Fail::exchange(
                "LISTCONFIGS must end with CONFIGEND",
                &ex.sent,
                "CONFIG name description … CONFIGEND",
                ex.received(),
            ));
        }
    }
    let listed: Vec<String> = ex
        .replies
        .iter()
        .filter_map(|rep| match rep {
            Reply::Config { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect();
    let missing: Vec<String> = ctx
        .opts
        .params
        .iter()
        .map(|(k, _)| k.clone())
        .filter(|k| !listed.contains(k) && !is_git_annex_param(k))
        .collect();
    if !missing.is_empty() {
        return Err(Fail::exchange(
            format!(
                "LISTCONFIGS does not list {}: git annex initremote would refuse them (Unexpected parameters)",
                missing.join(", ")
            ),
            &ex.sent,
            "CONFIG lines for every setting the remote reads",
            ex.lines.join(" / "),
        ));
    }
    Ok(Verdict::Pass(format!("lists {}", listed.join(" "))))
}

/// Parameters git-annex consumes itself and never checks against LISTCONFIGS.
fn is_git_annex_param(name: &str) -> bool {
    matches!(
        name,
        "type"
            | "externaltype"
            | "encryption"
            | "keyid"
            | "mac"
            | "chunk"
            | "chunksize"
            | "embedcreds"
            | "autoenable"
            | "exporttree"
            | "importtree"
            | "cost"
            | "preferreddir"
            | "annexobjects"
    )
}

fn getcost(ctx: &mut Ctx) -> TestResult {
    let mut r = ctx.start()?;
    let ex = r.request(&Request::GetCost)?;
    match ex.reply() {
        Some(Reply::Cost(n)) => Ok(Verdict::Pass(format!("COST {n}"))),
        Some(Reply::UnsupportedRequest) => Ok(Verdict::Pass("not implemented (200)".to_owned())),
        _ => Err(not_this(&ex, "COST n or UNSUPPORTED-REQUEST")),
    }
}

fn getavailability(ctx: &mut Ctx) -> TestResult {
    let mut r = ctx.start()?;
    let ex = r.request(&Request::GetAvailability)?;
    match ex.reply() {
        Some(Reply::Availability(remote_proto::Availability::Unavailable)) => Err(Fail::exchange(
            "the storage is reachable, yet the remote says UNAVAILABLE",
            &ex.sent,
            "AVAILABILITY GLOBAL or LOCAL",
            ex.received(),
        )),
        Some(Reply::Availability(a)) => Ok(Verdict::Pass(a.as_str().to_owned())),
        Some(Reply::UnsupportedRequest) => Ok(Verdict::Pass("not implemented (GLOBAL)".to_owned())),
        _ => Err(not_this(
            &ex,
            "AVAILABILITY GLOBAL|LOCAL or UNSUPPORTED-REQUEST",
        )),
    }
}

fn getinfo(ctx: &mut Ctx) -> TestResult {
    let mut r = ctx.start()?;
    let ex = r.request(&Request::GetInfo)?;
    match ex.reply() {
        Some(Reply::UnsupportedRequest) => return Ok(Verdict::Pass("not implemented".to_owned())),
        Some(Reply::InfoEnd) => {}
        _ => return Err(not_this(&ex, "INFOFIELD/INFOVALUE pairs, then INFOEND")),
    }
    let body = &ex.replies[..ex.replies.len() - 1];
    let mut fields = Vec::new();
    for pair in body.chunks(2) {
        match pair {
            [Reply::InfoField(name), Reply::InfoValue(value)] => {
                fields.push(format!("{name}={value}"));
            }
            _ => {
                return Err(Fail::exchange(
                    "GETINFO must send INFOFIELD then INFOVALUE, pair by pair",
                    &ex.sent,
                    "INFOFIELD name / INFOVALUE value … INFOEND",
                    ex.lines.join(" / "),
                ));
            }
        }
    }
    Ok(Verdict::Pass(fields.join(", ")))
}

fn exportsupported(ctx: &mut Ctx) -> TestResult {
    let mut r = ctx.connect()?;
    let ex = r.request(&Request::ExportSupported)?;
    match ex.reply() {
        Some(Reply::ExportSupportedSuccess) => Ok(Verdict::Pass("yes".to_owned())),
        Some(Reply::ExportSupportedFailure | Reply::UnsupportedRequest) => {
            Ok(Verdict::Pass("no".to_owned()))
        }
        _ => Err(not_this(
            &ex,
            "EXPORTSUPPORTED-SUCCESS|FAILURE or UNSUPPORTED-REQUEST",
        )),
    }
}

/// GETORDERED is a real request that git-annex added without a protocol bump.
fn getordered(ctx: &mut Ctx) -> TestResult {
    let mut r = ctx.start()?;
    let ex = r.request(&Request::GetOrdered)?;
    let detail = match ex.reply() {
        Some(Reply::Ordered) => "ORDERED",
        Some(Reply::Unordered) => "UNORDERED",
        Some(Reply::UnsupportedRequest) => "not implemented",
        _ => return Err(not_this(&ex, "ORDERED, UNORDERED or UNSUPPORTED-REQUEST")),
    };
    still_answers(ctx, &mut r)?;
    Ok(Verdict::Pass(detail.to_owned()))
}

/// git-annex adds optional requests without a protocol bump: unknown ones must get
/// UNSUPPORTED-REQUEST, and the session goes on.
fn unknown_request(ctx: &mut Ctx) -> TestResult {
    let mut r = ctx.start()?;
    let ex = r.request(
        &Request::parse("FROBNICATE-FUTURE-REQUEST with some params")
            .map_err(|e| Fail::new(format!("internal: {e}")))?,
    )?;
    ex.expect(
        |rep| matches!(rep, Reply::UnsupportedRequest),
        "UNSUPPORTED-REQUEST",
        "an unknown request must get UNSUPPORTED-REQUEST",
    )?;
    still_answers(ctx, &mut r)?;
    Ok(Verdict::Pass(String::new()))
}

fn not_this(ex: &crate::remote::Exchange, expected: &str) -> Fail {
    Fail::exchange("unexpected reply", &ex.sent, expected, ex.received())
}
