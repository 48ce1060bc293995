//! export: the simple export interface (`exporttree=yes`), when EXPORTSUPPORTED says yes.
//! testremote's export group is vacuous for external remotes (no EXPORT is ever sent), so this
//! is where it gets exercised: names with spaces and unicode, renames, directories, and (with
//! ASYNC) an export name per job.

use remote_proto::{Direction, Extension, Key, Reply, Request};

use super::Test;
use crate::ctx::Ctx;
use crate::remote::{Exchange, Remote};
use crate::verdict::{Fail, TestResult, Verdict};

const G: &str = "export";

/// The tests of this group.
pub fn tests() -> Vec<Test> {
    vec![
        Test::new(G, "store_checkpresent_retrieve", store_check_retrieve),
        Test::new(G, "checkpresent_absent", checkpresent_absent),
        Test::new(G, "rename", rename),
        Test::new(G, "remove", remove),
        Test::new(G, "remove_directory", remove_directory),
        Test::new(G, "names_with_spaces_and_unicode", odd_names),
        Test::new(G, "async_export_name_per_job", name_per_job),
    ]
}

/// Starts a remote configured `exporttree=yes`, or says why the group does not apply.
fn start_export(ctx: &mut Ctx) -> Result<Result<Remote, Verdict>, Fail> {
    if !ctx.probe()?.export {
        return Ok(Err(Verdict::NotApplicable(
            "EXPORTSUPPORTED says no".to_owned(),
        )));
    }
    let mut r = ctx.connect()?;
    r.set_process_config("exporttree", "yes");
    r.request(&Request::ExportSupported)?;
    r.prepare()?;
    Ok(Ok(r))
}

/// `EXPORT name` followed by `req`, on one job.
fn at(r: &mut Remote, name: &str, req: Request) -> Result<Exchange, Fail> {
    let mut exs = r.run_jobs(&[Request::Export(name.to_owned()), req], 1)?;
    exs.pop().ok_or_else(|| Fail::new("internal: no exchange"))
}

fn te(dir: Direction, key: &Key, file: &str) -> Request {
    Request::TransferExport {
        dir,
        key: key.clone(),
        file: file.to_owned(),
    }
}

fn store_at(r: &mut Remote, name: &str, key: &Key, src: &str) -> Result<(), Fail> {
    at(r, name, te(Direction::Store, key, src))?.expect(
        |rep| matches!(rep, Reply::TransferSuccess { .. }),
        &format!("TRANSFER-SUCCESS STORE {key}"),
        &format!("TRANSFEREXPORT STORE to `{name}` failed"),
    )?;
    Ok(())
}

fn present_at(r: &mut Remote, name: &str, key: &Key, want: bool) -> Result<(), Fail> {
    let (ok, expected): (fn(&Reply) -> bool, &str) = if want {
        (
            |rep| matches!(rep, Reply::CheckPresentSuccess(_)),
            "CHECKPRESENT-SUCCESS",
        )
    } else {
        (
            |rep| matches!(rep, Reply::CheckPresentFailure(_)),
            "CHECKPRESENT-FAILURE",
        )
    };
    at(r, name, Request::CheckPresentExport(key.clone()))?.expect(
        ok,
        &format!("{expected} {key}"),
        &format!(
            "`{name}` should be {}",
            if want { "present" } else { "absent" }
        ),
    )?;
    Ok(())
}

fn retrieve_at(ctx: &Ctx, r: &mut Remote, name: &str, key: &Key, data: &[u8]) -> Result<(), Fail> {
    let dest = ctx.fresh_dest(key);
    let ex = at(r, name, te(Direction::Retrieve, key, &dest))?.expect(
        |rep| matches!(rep, Reply::TransferSuccess { .. }),
        &format!("TRANSFER-SUCCESS RETRIEVE {key}"),
        &format!("TRANSFEREXPORT RETRIEVE from `{name}` failed"),
    )?;
    ctx.check_retrieved(&ex, &dest, data)
        .map_err(|f| f.context(format!("from `{name}`")))
}

fn remove_at(r: &mut Remote, name: &str, key: &Key) -> Result<(), Fail> {
    at(r, name, Request::RemoveExport(key.clone()))?.expect(
        |rep| matches!(rep, Reply::RemoveSuccess(_)),
        &format!("REMOVE-SUCCESS {key}"),
        &format!("REMOVEEXPORT of `{name}` failed"),
    )?;
    Ok(())
}

fn dir(ctx: &Ctx) -> String {
    format!("conformance-{}", ctx.nonce())
}

fn store_check_retrieve(ctx: &mut Ctx) -> TestResult {
    let mut r = match start_export(ctx)? {
        Ok(r) => r,
        Err(v) => return Ok(v),
    };
    let (key, data) = ctx.content("file", 10_000);
    let src = ctx.source(&key, &data)?;
    let name = format!("{}/file.bin", dir(ctx));
    store_at(&mut r, &name, &key, &src)?;
    present_at(&mut r, &name, &key, true)?;
    retrieve_at(ctx, &mut r, &name, &key, &data)?;
    // Storing again at the same name (git annex export after a change) must work.
    store_at(&mut r, &name, &key, &src).map_err(|f| f.context("storing again"))?;
    remove_at(&mut r, &name, &key)?;
    Ok(Verdict::Pass(String::new()))
}

fn checkpresent_absent(ctx: &mut Ctx) -> TestResult {
    let mut r = match start_export(ctx)? {
        Ok(r) => r,
        Err(v) => return Ok(v),
    };
    let (key, _) = ctx.content("never", 10);
    present_at(&mut r, &format!("{}/never.bin", dir(ctx)), &key, false)?;
    Ok(Verdict::Pass(String::new()))
}

fn rename(ctx: &mut Ctx) -> TestResult {
    let mut r = match start_export(ctx)? {
        Ok(r) => r,
        Err(v) => return Ok(v),
    };
    let (key, data) = ctx.content("file", 5_000);
    let src = ctx.source(&key, &data)?;
    let (old, new) = (
        format!("{}/old name.bin", dir(ctx)),
        format!("{}/sub dir/new name.bin", dir(ctx)),
    );
    store_at(&mut r, &old, &key, &src)?;
    let ex = at(
        &mut r,
        &old,
        Request::RenameExport {
            key: key.clone(),
            new_name: new.clone(),
        },
    )?;
    match ex.reply() {
        Some(Reply::RenameExportSuccess(_)) => {}
        Some(Reply::RenameExportFailure(_) | Reply::UnsupportedRequest) => {
            remove_at(&mut r, &old, &key)?;
            return Ok(Verdict::Pass(
                "rename not supported (git-annex removes and re-uploads)".to_owned(),
            ));
        }
        _ => {
            return Err(Fail::exchange(
                "unexpected reply to RENAMEEXPORT",
                &ex.sent,
                format!("RENAMEEXPORT-SUCCESS {key}"),
                ex.received(),
            ));
        }
    }
    present_at(&mut r, &new, &key, true).map_err(|f| f.context("after the rename"))?;
    present_at(&mut r, &old, &key, false).map_err(|f| f.context("after the rename"))?;
    retrieve_at(ctx, &mut r, &new, &key, &data)?;
    remove_at(&mut r, &new, &key)?;
    Ok(Verdict::Pass(String::new()))
}

fn remove(ctx: &mut Ctx) -> TestResult {
    let mut r = match start_export(ctx)? {
        Ok(r) => r,
        Err(v) => return Ok(v),
    };
    let (key, data) = ctx.content("file", 3_000);
    let src = ctx.source(&key, &data)?;
    let name = format!("{}/gone.bin", dir(ctx));
    store_at(&mut r, &name, &key, &src)?;
    remove_at(&mut r, &name, &key)?;
    present_at(&mut r, &name, &key, false).map_err(|f| f.context("after REMOVEEXPORT"))?;
    remove_at(&mut r, &name, &key).map_err(|f| f.context("removing an absent name"))?;
    Ok(Verdict::Pass(String::new()))
}

fn remove_directory(ctx: &mut Ctx) -> TestResult {
    let mut r = match start_export(ctx)? {
        Ok(r) => r,
        Err(v) => return Ok(v),
    };
    let (key, data) = ctx.content("file", 3_000);
    let src = ctx.source(&key, &data)?;
    let d = format!("{}/dir one", dir(ctx));
    let name = format!("{d}/file a.txt");
    store_at(&mut r, &name, &key, &src)?;
    remove_at(&mut r, &name, &key)?;
    for (what, which) in [("the emptied directory", &d), ("a missing directory", &d)] {
        let ex = r.request(&Request::RemoveExportDirectory(which.clone()))?;
        ex.expect(
            |rep| {
                matches!(
                    rep,
                    Reply::RemoveExportDirectorySuccess | Reply::UnsupportedRequest
                )
            },
            "REMOVEEXPORTDIRECTORY-SUCCESS",
            &format!("REMOVEEXPORTDIRECTORY of {what} failed"),
        )?;
    }
    // The directory can be used again afterwards.
    store_at(&mut r, &name, &key, &src).map_err(|f| f.context("after REMOVEEXPORTDIRECTORY"))?;
    remove_at(&mut r, &name, &key)?;
    let _ = r.request(&Request::RemoveExportDirectory(dir(ctx)));
    Ok(Verdict::Pass(String::new()))
}

/// Names are passed verbatim: runs of spaces, tabs, leading and trailing spaces, non-ASCII.
fn odd_names(ctx: &mut Ctx) -> TestResult {
    let mut r = match start_export(ctx)? {
        Ok(r) => r,
        Err(v) => return Ok(v),
    };
    let d = dir(ctx);
    let names = [
        format!("{d}/a  b.txt"),
        format!("{d}/ünï cödé/ﬁlé 名前.txt"),
        format!("{d}/tab\there.txt"),
        format!("{d}/ leading space.txt"),
        format!("{d}/trailing space.txt "),
        format!("{d}/100% & more: yes.txt"),
    ];
    let mut stored = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let (key, data) = ctx.content(&format!("n{i}"), 100 + i as u64);
        let src = ctx.source(&key, &data)?;
        store_at(&mut r, name, &key, &src)?;
        stored.push((name.clone(), key, data));
    }
    for (name, key, data) in &stored {
        present_at(&mut r, name, key, true)?;
        retrieve_at(ctx, &mut r, name, key, data)?;
    }
    for (name, key, _) in &stored {
        remove_at(&mut r, name, key)?;
    }
    Ok(Verdict::Pass(String::new()))
}

/// With ASYNC, the current export name belongs to each job: two jobs interleave EXPORT and
/// TRANSFEREXPORT, and each content must land at its own name.
fn name_per_job(ctx: &mut Ctx) -> TestResult {
    let probe = ctx.probe()?;
    if !probe.extensions.contains(&Extension::Async) {
        return Ok(Verdict::NotApplicable(
            "the remote does not use ASYNC".to_owned(),
        ));
    }
    let mut r = match start_export(ctx)? {
        Ok(r) => r,
        Err(v) => return Ok(v),
    };
    let d = dir(ctx);
    let (ka, da) = ctx.content("a", 2_000);
    let (kb, db) = ctx.content("b", 3_000);
    let (sa, sb) = (ctx.source(&ka, &da)?, ctx.source(&kb, &db)?);
    let (na, nb) = (format!("{d}/job one.bin"), format!("{d}/job two.bin"));
    // Job 1 gets EXPORT a + STORE a, job 2 EXPORT b + STORE b; all four lines go out before
    // anything is read.
    let exs = r.run_jobs(
        &[
            Request::Export(na.clone()),
            te(Direction::Store, &ka, &sa),
            Request::Export(nb.clone()),
            te(Direction::Store, &kb, &sb),
        ],
        2,
    )?;
    for ex in exs.iter().filter(|e| e.reply().is_some()) {
        if !matches!(ex.reply(), Some(Reply::TransferSuccess { .. })) {
            return Err(Fail::exchange(
                "TRANSFEREXPORT STORE failed",
                &ex.sent,
                "TRANSFER-SUCCESS STORE",
                ex.received(),
            ));
        }
    }
    retrieve_at(ctx, &mut r, &na, &ka, &da)?;
    retrieve_at(ctx, &mut r, &nb, &kb, &db)?;
    remove_at(&mut r, &na, &ka)?;
    remove_at(&mut r, &nb, &kb)?;
    Ok(Verdict::Pass(String::new()))
}
