//! `target=`: ferry as a drop-in for the rclone bridges, reading the user's rclone.conf. S3 and
//! WebDAV remotes point at the local test servers; a `local` remote stands in for a store that
//! git-annex-remote-rclone wrote, to show that ferry finds its objects where the bash layout
//! put them.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::cloud::need;
use crate::support::{Repo, all_output, pseudo_random, run_ok, stdout};

/// "hello world\n", and where git-annex-remote-rclone's lower layout puts its SHA256E key
/// (shared/peers.md §5.4, from `git annex examinekey` and the bash remote's real trees).
const HELLO: &[u8] = b"hello world\n";
const HELLO_KEY: &str =
    "SHA256E-s12--a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447.txt";
const HELLO_LOWER: &str =
    "e7d/d01/SHA256E-s12--a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447.txt";

/// A unique name for this test's objects on the shared servers.
fn run_id(repo: &Repo) -> String {
    format!(
        "it-{}",
        repo.tmp
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("x")
    )
}

/// Writes an rclone.conf beside the repository and returns its path.
fn write_conf(repo: &Repo, text: &str) -> PathBuf {
    let path = repo.tmp.path().join("rclone.conf");
    std::fs::write(&path, text).expect("write rclone.conf");
    path
}

/// git-annex with `RCLONE_CONFIG` pointing at `conf`.
fn annex_with(repo: &Repo, conf: &Path, args: &[&str]) -> Output {
    let mut cmd = repo.command("git-annex", args);
    cmd.env("RCLONE_CONFIG", conf);
    run_ok(cmd)
}

fn remote_log(repo: &Repo) -> String {
    stdout(&repo.git(&["show", "git-annex:remote.log"]))
}

/// Three files through the remote: copy, drop here, get back (content compared), fsck on the
/// remote, drop from the remote.
fn round_trip(repo: &Repo, remote: &str, run: &dyn Fn(&[&str]) -> Output) {
    let files: Vec<(String, Vec<u8>)> = (0..3)
        .map(|i| {
            (
                format!("f{i}.bin"),
                pseudo_random(i + 40, 1000 + i as usize),
            )
        })
        .collect();
    for (name, content) in &files {
        repo.write(name, content);
    }
    repo.add_all();
    run(&["copy", "--to", remote, "."]);
    run(&["drop", "."]);
    run(&["get", "--from", remote, "."]);
    for (name, content) in &files {
        assert_eq!(
            &std::fs::read(repo.dir.join(name)).expect("read back"),
            content,
            "{name}"
        );
    }
    let fsck = run(&["fsck", "--from", remote, "."]);
    assert!(stdout(&fsck).contains("ok"), "{}", all_output(&fsck));
    run(&["drop", "--from", remote, "."]);
    let whereis = run(&["whereis", "f0.bin"]);
    assert!(
        !stdout(&whereis).contains(remote),
        "still on {remote}: {}",
        stdout(&whereis)
    );
}

#[test]
fn s3_target_from_rclone_config_copies_gets_drops_and_fscks() {
    let repo = Repo::new();
    let endpoint = need("FERRY_TEST_S3_ENDPOINT");
    let secret = need("FERRY_TEST_S3_SECRET_ACCESS_KEY");
    let conf = write_conf(
        &repo,
        &format!(
            "[mys3]\ntype = s3\nprovider = Other\naccess_key_id = {}\nsecret_access_key = {secret}\nendpoint = {endpoint}\nregion = us-east-1\nforce_path_style = true\n",
            need("FERRY_TEST_S3_ACCESS_KEY_ID")
        ),
    );
    let id = run_id(&repo);
    let prefix = format!("prefix={}/{id}", need("FERRY_TEST_S3_BUCKET"));
    annex_with(
        &repo,
        &conf,
        &[
            "initremote",
            "s3",
            "type=external",
            "externaltype=ferry",
            "target=mys3",
            &prefix,
            "encryption=none",
        ],
    );
    // The bucket is the first element of the rclone path; the rest is the prefix in it.
    repo.write("hello.txt", HELLO);
    repo.add_all();
    annex_with(&repo, &conf, &["copy", "--to", "s3", "hello.txt"]);
    let object = Path::new(&need("FERRY_TEST_S3_DATA"))
        .join(&id)
        .join(HELLO_LOWER);
    assert_eq!(std::fs::read(&object).expect("object in the bucket"), HELLO);
    round_trip(&repo, "s3", &|args| annex_with(&repo, &conf, args));

    let log = remote_log(&repo);
    assert!(
        log.contains("target=mys3") && log.contains(&format!("prefix=ferry/{id}")),
        "{log}"
    );
    assert!(
        !log.contains(&secret) && !log.contains("storage=") && !log.contains("bucket="),
        "remote.log holds more than target/prefix/layout: {log}"
    );
    assert!(!repo.log_text().contains(&secret), "secret in the log");
    let creds = repo.dir.join(".git/annex/creds");
    assert!(
        !creds.exists()
            || std::fs::read_dir(&creds)
                .expect("list creds")
                .next()
                .is_none(),
        "credentials were handed to git-annex"
    );
}

/// `rclone obscure`, as a user's `rclone config` would store a WebDAV password.
fn obscure(repo: &Repo, plain: &str) -> String {
    let mut cmd = repo.command("rclone", &["obscure", plain]);
    cmd.env("RCLONE_CONFIG", "/dev/null");
    stdout(&run_ok(cmd)).trim().to_owned()
}

#[test]
fn webdav_target_from_default_rclone_conf_with_obscured_password() {
    let repo = Repo::new();
    let pass = need("FERRY_TEST_WEBDAV_PASSWORD");
    // Where rclone looks when RCLONE_CONFIG is not set: ~/.config/rclone/rclone.conf.
    let conf_dir = repo.tmp.path().join("home/.config/rclone");
    std::fs::create_dir_all(&conf_dir).expect("create config dir");
    std::fs::write(
        conf_dir.join("rclone.conf"),
        format!(
            "# made by hand\n[mydav]\ntype = webdav\nurl = {}\nvendor = other\nuser = {}\npass = {}\n",
            need("FERRY_TEST_WEBDAV_URL"),
            need("FERRY_TEST_WEBDAV_USER"),
            obscure(&repo, &pass)
        ),
    )
    .expect("write rclone.conf");
    let id = run_id(&repo);
    let run = |args: &[&str]| {
        let mut cmd = repo.command("git-annex", args);
        cmd.env_remove("RCLONE_CONFIG");
        run_ok(cmd)
    };
    let target = format!("target=mydav:{id}");
    run(&[
        "initremote",
        "dav",
        "type=external",
        "externaltype=ferry",
        &target,
        "prefix=annex",
        "encryption=none",
    ]);
    repo.write("hello.txt", HELLO);
    repo.add_all();
    run(&["copy", "--to", "dav", "hello.txt"]);
    // target=NAME:path and prefix= join into one rclone path, as the bash remote joins them.
    let object = Path::new(&need("FERRY_TEST_WEBDAV_DATA"))
        .join(&id)
        .join("annex")
        .join(HELLO_LOWER);
    assert_eq!(std::fs::read(&object).expect("object on the server"), HELLO);
    round_trip(&repo, "dav", &run);
    assert!(!remote_log(&repo).contains(&pass), "password in remote.log");
    assert!(!repo.log_text().contains(&pass), "password in the log");
}

/// A store as git-annex-remote-rclone (`rclone_layout=lower`) left it, written by hand at the
/// paths of its layout, and a repository that knows the files but not where they are.
fn bash_store(repo: &Repo) -> (PathBuf, PathBuf, Vec<u8>) {
    let store = repo.tmp.path().join("rclone-store");
    let hello = store.join(HELLO_LOWER);
    std::fs::create_dir_all(hello.parent().expect("has a parent")).expect("mkdir");
    std::fs::write(&hello, HELLO).expect("write object");
    let other = pseudo_random(7, 3000);
    repo.write("hello.txt", HELLO);
    repo.write("other.bin", &other);
    repo.add_all();
    let key: remote_proto::Key = repo.key_of("other.bin").parse().expect("a key");
    let path =
        ferry_backends::layout::object_path(ferry_backends::layout::Layout::Lower, None, &key)
            .expect("a path for a plain key");
    let other_object = store.join(path.as_str());
    std::fs::create_dir_all(other_object.parent().expect("has a parent")).expect("mkdir");
    std::fs::write(&other_object, &other).expect("write object");
    assert_eq!(repo.key_of("hello.txt"), HELLO_KEY);
    let conf = write_conf(repo, "[mylocal]\ntype = local\n");
    (store, conf, other)
}

#[test]
fn local_target_finds_objects_the_bash_remote_placed() {
    let repo = Repo::new();
    let (store, conf, other) = bash_store(&repo);
    let prefix = format!("prefix={}", store.display());
    // The config the bash remote stores (target, prefix, rclone_layout), given to ferry.
    annex_with(
        &repo,
        &conf,
        &[
            "initremote",
            "old",
            "type=external",
            "externaltype=ferry",
            "target=mylocal",
            &prefix,
            "rclone_layout=lower",
            "encryption=none",
        ],
    );
    // fsck finds both objects and records them in the location log.
    let fsck = annex_with(&repo, &conf, &["fsck", "--from", "old", "."]);
    assert!(
        !all_output(&fsck).contains("failed"),
        "{}",
        all_output(&fsck)
    );
    annex_with(&repo, &conf, &["drop", "."]);
    annex_with(&repo, &conf, &["get", "--from", "old", "."]);
    assert_eq!(
        std::fs::read(repo.dir.join("hello.txt")).expect("read"),
        HELLO
    );
    assert_eq!(
        std::fs::read(repo.dir.join("other.bin")).expect("read"),
        other
    );
    // New objects go where the bash remote would look for them.
    repo.write("new.txt", b"new content\n");
    repo.add_all();
    annex_with(&repo, &conf, &["copy", "--to", "old", "new.txt"]);
    let key: remote_proto::Key = repo.key_of("new.txt").parse().expect("a key");
    let path =
        ferry_backends::layout::object_path(ferry_backends::layout::Layout::Lower, None, &key)
            .expect("a path");
    assert!(
        store.join(path.as_str()).is_file(),
        "{path} not in the store"
    );
    let info = annex_with(&repo, &conf, &["info", "old"]);
    assert!(
        stdout(&info).contains("target: mylocal")
            && stdout(&info).contains(&format!("location: {}", store.display())),
        "{}",
        stdout(&info)
    );
    let log = remote_log(&repo);
    assert!(
        log.contains("target=mylocal")
            && log.contains("rclone_layout=lower")
            && !log.contains("directory="),
        "{log}"
    );
    // `ferry doctor` reads the same rclone.conf.
    let mut doctor = repo.command(env!("CARGO_BIN_EXE_ferry"), &["doctor", "old"]);
    doctor.env("RCLONE_CONFIG", &conf);
    let out = doctor.output().expect("run ferry doctor");
    assert!(out.status.success(), "{}", all_output(&out));
    assert!(stdout(&out).contains("target=mylocal"), "{}", stdout(&out));
}

#[test]
fn rclone_gitannex_names_get_its_defaults_and_the_values_used_are_stored() {
    let repo = Repo::new();
    let conf = write_conf(&repo, "[mylocal]\ntype = local\n");
    // Only rclone gitannex's names: its defaults, layout nodir and prefix git-annex-rclone
    // (relative to the work tree, as rclone resolves local paths).
    annex_with(
        &repo,
        &conf,
        &[
            "initremote",
            "gx",
            "type=external",
            "externaltype=ferry",
            "rcloneremotename=mylocal",
            "encryption=none",
        ],
    );
    repo.write("hello.txt", HELLO);
    repo.add_all();
    annex_with(&repo, &conf, &["copy", "--to", "gx", "hello.txt"]);
    assert_eq!(
        std::fs::read(repo.dir.join("git-annex-rclone").join(HELLO_KEY)).expect("nodir object"),
        HELLO
    );
    let log = remote_log(&repo);
    assert!(
        log.contains("layout=nodir")
            && log.contains("prefix=git-annex-rclone")
            && log.contains("target=mylocal"),
        "{log}"
    );
}

/// rclone with `RCLONE_CONFIG` at `conf`; its output.
fn rclone_at(repo: &Repo, conf: &Path, args: &[&str]) -> Output {
    let mut cmd = repo.command("rclone", args);
    cmd.env("RCLONE_CONFIG", conf)
        .env_remove("RCLONE_CONFIG_PASS");
    run_ok(cmd)
}

/// What rclone itself reads from `conf`: `rclone config dump`, as section → key → value.
fn rclone_dump(repo: &Repo, conf: &Path, env: &[(&str, &str)]) -> Sections {
    let mut cmd = repo.command("rclone", &["config", "dump"]);
    cmd.env("RCLONE_CONFIG", conf)
        .env_remove("RCLONE_CONFIG_PASS");
    cmd.envs(env.iter().copied());
    serde_json::from_str(&stdout(&run_ok(cmd))).expect("rclone config dump is JSON")
}

type Sections = std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>;

/// What ferry reads from `conf` with the password from `passcmd` / `env`, in the sections
/// rclone dumps, with the keys rclone dumps (its own keys: a dotted section also inherits its
/// parent's, which `rclone config dump` does not list).
fn ferry_view(
    conf: &Path,
    passcmd: Option<&str>,
    env: &[(&str, &str)],
    dump: &Sections,
) -> Result<Sections, String> {
    use ferry::rclone_conf::{PasswordSource, RcloneConf};
    let env: ferry::rclone_conf::Env = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let parsed = RcloneConf::load(
        Some(conf),
        PasswordSource {
            command: passcmd,
            env: &env,
        },
    )
    .map_err(|e| e.to_string())?;
    assert_eq!(
        parsed.sections.keys().collect::<Vec<_>>(),
        dump.keys().collect::<Vec<_>>()
    );
    Ok(dump
        .iter()
        .map(|(name, keys)| {
            let mut values = parsed.effective_values(name);
            if name.contains('.') {
                values.retain(|k, _| keys.contains_key(k));
            }
            (name.clone(), values)
        })
        .collect())
}

#[test]
fn rclone_conf_values_are_read_as_rclone_reads_them_plain_and_encrypted() {
    let repo = Repo::new();
    let conf = repo.tmp.path().join("rclone.conf");
    // Values that make rclone's writer quote them (backticks, double quotes) or that rclone's
    // reader treats specially, written by rclone itself...
    rclone_at(
        &repo,
        &conf,
        &[
            "config",
            "create",
            "q",
            "webdav",
            "url=http://h/x",
            "user=we`ird\"user",
            "bearer_token=\"quoted\"",
            "--non-interactive",
        ],
    );
    rclone_at(
        &repo,
        &conf,
        &[
            "config",
            "create",
            "q2",
            "webdav",
            "url=http://h",
            "user=a`b",
            "bearer_token=  sp  %(type)s",
            "--non-interactive",
        ],
    );
    // ...and by hand: separators, quotes and references rclone's reader accepts.
    let mut text = std::fs::read_to_string(&conf).expect("read rclone.conf");
    text.push_str(
        "[h]\ntype = local\ncolon: a = b\nsingle = 'x'\ntick = `a \"b\" c`\ntriple = \"\"\"x`y\"z\"\"\"\nshort = \"\"\"ab\n`k=ey` = v\nempty =\nticks = ``\n[ spaced ]\ntype = local\n[h.sub]\nown = %(colon)s!\n",
    );
    std::fs::write(&conf, format!("\u{feff}top = before\n{text}")).expect("write");
    let dump = rclone_dump(&repo, &conf, &[]);
    assert!(
        dump.contains_key("h") && dump.contains_key("DEFAULT"),
        "{dump:?}"
    );
    let expected = dump.clone();
    let sections = &dump;
    assert_eq!(ferry_view(&conf, None, &[], sections).unwrap(), expected);
    // The values ferry uses through a remote are rclone's too.
    let remote =
        ferry::rclone_conf::RcloneConf::parse(&conf, &std::fs::read_to_string(&conf).unwrap())
            .unwrap()
            .remote("q", &Default::default())
            .unwrap();
    assert_eq!(remote.get("user"), Some("we`ird\"user"));
    // rclone lists h.sub as a remote: its type comes from [h].
    let remotes = stdout(&rclone_at(&repo, &conf, &["listremotes"]));
    assert!(remotes.contains("h.sub:"), "{remotes}");
    let sub =
        ferry::rclone_conf::RcloneConf::parse(&conf, &std::fs::read_to_string(&conf).unwrap())
            .unwrap()
            .remote("h.sub", &Default::default())
            .unwrap();
    // %(colon)s is looked up in DEFAULT and in h.sub itself, not in [h]: it is empty.
    assert_eq!((sub.kind.as_str(), sub.get("own")), ("local", Some("!")));

    // The same file encrypted by rclone, its password from a command.
    let password = "pässwörd 1";
    let (_pwfile, passcmd) = encrypt_with_rclone(&repo, &conf, password);
    let encrypted = std::fs::read_to_string(&conf).expect("read");
    assert!(encrypted.contains("RCLONE_ENCRYPT_V0:"), "{encrypted}");
    assert_eq!(
        rclone_dump(&repo, &conf, &[("RCLONE_CONFIG_PASS", password)]),
        dump
    );
    assert_eq!(
        ferry_view(&conf, Some(&passcmd), &[], sections).unwrap(),
        expected
    );
    assert_eq!(
        ferry_view(&conf, None, &[("RCLONE_CONFIG_PASS", password)], sections).unwrap(),
        expected
    );
    assert_eq!(
        ferry_view(
            &conf,
            None,
            &[("RCLONE_PASSWORD_COMMAND", &passcmd)],
            sections
        )
        .unwrap(),
        expected
    );
    // rclone_passcmd= wins over the environment, as --password-command does in rclone.
    assert_eq!(
        ferry_view(
            &conf,
            Some(&passcmd),
            &[("RCLONE_CONFIG_PASS", "wrong")],
            sections
        )
        .unwrap(),
        expected
    );
    for (passcmd, env, says) in [
        (
            None,
            vec![("RCLONE_CONFIG_PASS", "wrong")],
            "does not open it",
        ),
        (Some("false"), vec![], "failed"),
        (Some("true"), vec![], "printed nothing"),
        (Some("/nonexistent/pw-helper"), vec![], "could not be run"),
        (None, vec![], "set RCLONE_CONFIG_PASS"),
    ] {
        let e = ferry_view(&conf, passcmd, &env, sections).unwrap_err();
        assert!(
            e.contains(says) && e.contains("is encrypted"),
            "{passcmd:?}: {e}"
        );
        assert!(!e.contains(password), "password in the message: {e}");
    }
}

#[test]
fn encrypted_rclone_conf_opens_with_rclone_passcmd_and_refuses_without_password() {
    let repo = Repo::new();
    let conf = repo.tmp.path().join("rclone.conf");
    rclone_at(
        &repo,
        &conf,
        &["config", "create", "mylocal", "local", "--non-interactive"],
    );
    let password = "annex-config-pw";
    let (pwfile, passcmd) = encrypt_with_rclone(&repo, &conf, password);
    let store = repo.tmp.path().join("store");
    let target = format!("target=mylocal:{}", store.display());
    let init = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec![
            "initremote",
            "r",
            "type=external",
            "externaltype=ferry",
            &target,
        ];
        args.extend_from_slice(extra);
        args.push("encryption=none");
        let mut cmd = repo.command("git-annex", &args);
        cmd.env("RCLONE_CONFIG", &conf)
            .env_remove("RCLONE_CONFIG_PASS");
        cmd.envs(env.iter().copied());
        cmd.output().expect("run git-annex")
    };
    for (extra, env, says) in [
        (
            vec![],
            vec![],
            "set RCLONE_CONFIG_PASS, or give rclone_passcmd=",
        ),
        (
            vec![],
            vec![("RCLONE_CONFIG_PASS", "wrong")],
            "does not open it",
        ),
        (
            vec!["rclone_passcmd=false"],
            vec![],
            "rclone_passcmd= = \"false\" failed",
        ),
    ] {
        let out = init(&extra, &env);
        assert!(!out.status.success(), "{}", all_output(&out));
        assert!(
            all_output(&out).contains(says),
            "{says}: {}",
            all_output(&out)
        );
    }
    let passcmd_arg = format!("rclone_passcmd={passcmd}");
    let out = init(&[&passcmd_arg], &[]);
    assert!(out.status.success(), "{}", all_output(&out));
    // Every later run finds the command in remote.log (git-annex writes a space as &32;):
    // no environment needed.
    let log = remote_log(&repo);
    assert!(
        log.contains(&format!("rclone_passcmd=cat&32;{}", pwfile.display())),
        "{log}"
    );
    repo.write("hello.txt", HELLO);
    repo.add_all();
    annex_with(&repo, &conf, &["copy", "--to", "r", "hello.txt"]);
    assert_eq!(
        std::fs::read(store.join("git-annex").join(HELLO_LOWER)).expect("object in the store"),
        HELLO
    );
    annex_with(&repo, &conf, &["fsck", "--from", "r", "hello.txt"]);
    assert!(
        !remote_log(&repo).contains(password),
        "password in remote.log"
    );
    assert!(!repo.log_text().contains(password), "password in the log");
}

#[test]
fn unsupported_types_are_refused_with_what_to_do() {
    let repo = Repo::new();
    let conf = write_conf(&repo, "[box]\ntype = sftp\nhost = h\n");
    let mut cmd = repo.command(
        "git-annex",
        &[
            "initremote",
            "r",
            "type=external",
            "externaltype=ferry",
            "target=box",
            "encryption=none",
        ],
    );
    cmd.env("RCLONE_CONFIG", &conf);
    let out = cmd.output().expect("run git-annex");
    assert!(!out.status.success());
    assert!(
        all_output(&out).contains("type=sftp")
            && all_output(&out).contains("s3, webdav, drive and local"),
        "{}",
        all_output(&out)
    );
}

/// A directory on PATH holding `git-annex-remote-<name>` → `program`, so git-annex can run a
/// peer bridge.
fn peer_path(repo: &Repo, name: &str, program: &Path) -> String {
    let bin = repo.tmp.path().join("peer-bin");
    std::fs::create_dir_all(&bin).expect("create peer bin dir");
    std::os::unix::fs::symlink(program, bin.join(format!("git-annex-remote-{name}")))
        .expect("link the peer remote");
    format!("{}:{}", bin.display(), crate::support::test_path())
}

/// Stores two files with a real rclone bridge (`externaltype`, its own config `params`),
/// switches the remote to ferry with `git annex enableremote NAME externaltype=ferry`, and
/// checks that ferry finds, verifies and serves the bridge's objects.
fn migrate_from(externaltype: &str, program: &Path, params: &[&str]) -> Repo {
    let repo = Repo::new();
    let conf = write_conf(&repo, "[mylocal]\ntype = local\n");
    let path = peer_path(&repo, externaltype, program);
    let run = |args: &[&str]| {
        let mut cmd = repo.command("git-annex", args);
        cmd.env("RCLONE_CONFIG", &conf).env("PATH", &path);
        run_ok(cmd)
    };
    let other = pseudo_random(11, 2000);
    repo.write("hello.txt", HELLO);
    repo.write("other.bin", &other);
    repo.add_all();
    let externaltype_arg = format!("externaltype={externaltype}");
    let mut init = vec!["initremote", "old", "type=external", &externaltype_arg];
    init.extend_from_slice(params);
    init.push("encryption=none");
    run(&init);
    run(&["copy", "--to", "old", "."]);
    run(&["enableremote", "old", "externaltype=ferry"]);
    let log = remote_log(&repo);
    assert!(log.contains("externaltype=ferry"), "{log}");
    run(&["drop", "."]);
    run(&["fsck", "--from", "old", "."]);
    run(&["get", "--from", "old", "."]);
    assert_eq!(
        std::fs::read(repo.dir.join("hello.txt")).expect("read"),
        HELLO
    );
    assert_eq!(
        std::fs::read(repo.dir.join("other.bin")).expect("read"),
        other
    );
    repo
}

/// The rclone executable the test servers use (`scripts/test-servers start` installs it).
fn rclone_program() -> PathBuf {
    std::env::split_paths(&crate::support::test_path())
        .map(|d| d.join("rclone"))
        .find(|p| p.is_file())
        .expect("rclone is not on PATH nor in .venv: run scripts/test-servers start")
}

#[test]
fn enableremote_switches_an_rclone_gitannex_remote_to_ferry_with_its_defaults() {
    // rclone runs `rclone gitannex` when started as git-annex-remote-rclone-builtin. It stores
    // only rcloneremotename here; ferry must apply its defaults (nodir, git-annex-rclone).
    let repo = migrate_from(
        "rclone-builtin",
        &rclone_program(),
        &["rcloneremotename=mylocal"],
    );
    assert!(
        repo.dir.join("git-annex-rclone").join(HELLO_KEY).is_file(),
        "not where rclone gitannex put it"
    );
    let log = remote_log(&repo);
    assert!(
        log.contains("layout=nodir") && log.contains("prefix=git-annex-rclone"),
        "{log}"
    );
}

/// Needs the bash git-annex-remote-rclone, which is not in the repository: `scripts/compat-matrix
/// rclone-bash` unpacks Debian's package (0.6) into /tmp/ferry-compat/deb/usr/bin/. Run with
/// `FERRY_TEST_RCLONE_BASH=/path/to/git-annex-remote-rclone cargo test -p ferry --test main --
/// --ignored enableremote_switches_a_bash`.
#[test]
#[ignore = "needs the bash git-annex-remote-rclone (FERRY_TEST_RCLONE_BASH)"]
fn enableremote_switches_a_bash_rclone_remote_to_ferry() {
    let script = need("FERRY_TEST_RCLONE_BASH");
    // Its defaults: prefix git-annex (relative to the work tree for a local remote), layout lower.
    let repo = migrate_from("rclone", Path::new(&script), &["target=mylocal"]);
    assert!(
        repo.dir.join("git-annex").join(HELLO_LOWER).is_file(),
        "not where the bash remote put it"
    );
    let log = remote_log(&repo);
    assert!(
        log.contains("rclone_layout=lower") && log.contains("prefix=git-annex "),
        "{log}"
    );
}

#[test]
fn drive_target_from_rclone_conf_stores_in_the_folder_and_gets_back() {
    use crate::cloud::{gdrive_fake, start_drive_fake};
    let repo = Repo::new();
    let drive = start_drive_fake(repo.tmp.path());
    let (fake, root) = (&drive.fake, &drive.root);
    let token = fake
        .credentials()
        .token
        .to_json()
        .expose()
        .replace('\n', "");
    // A drive remote as `rclone config` writes it: the token JSON on one line.
    let conf = write_conf(
        &repo,
        &format!(
            "[gd]\ntype = drive\nclient_id = {}\nclient_secret = {}\nscope = drive\nroot_folder_id = {root}\ntoken = {token}\n",
            gdrive_fake::CLIENT_ID,
            gdrive_fake::CLIENT_SECRET
        ),
    );
    let endpoint = format!("gdrive_endpoint={}", fake.url());
    annex_with(
        &repo,
        &conf,
        &[
            "initremote",
            "drive",
            "type=external",
            "externaltype=ferry",
            "target=gd",
            "prefix=store",
            &endpoint,
            "encryption=none",
        ],
    );
    repo.write("hello.txt", HELLO);
    repo.add_all();
    annex_with(&repo, &conf, &["copy", "--to", "drive", "hello.txt"]);
    assert_eq!(
        fake.at_path(root, &format!("store/{HELLO_LOWER}")).len(),
        1,
        "object not at store/{HELLO_LOWER} in the root folder"
    );
    round_trip(&repo, "drive", &|args| annex_with(&repo, &conf, args));
    let log = remote_log(&repo);
    assert!(
        !log.contains(gdrive_fake::CLIENT_SECRET) && !log.contains(gdrive_fake::REFRESH_TOKEN),
        "{log}"
    );
}

/// ferry's encryption works on a `target=` remote like on any other storage: objects are
/// sealed under HMAC names, and the key is stored while the rclone credentials are not.
#[test]
fn target_remote_with_ferry_encryption_stores_only_sealed_objects() {
    let repo = Repo::new();
    let store = repo.tmp.path().join("sealed-store");
    let conf = write_conf(&repo, "[mylocal]\ntype = local\n");
    let prefix = format!("prefix={}", store.display());
    annex_with(
        &repo,
        &conf,
        &[
            "initremote",
            "enc",
            "type=external",
            "externaltype=ferry",
            "target=mylocal",
            &prefix,
            "encryption=none",
            "ferry_encryption=aes256gcm",
        ],
    );
    let log = remote_log(&repo);
    assert!(
        log.contains("ferry_encryption=aes256gcm") && log.contains("ferry_key=ferry1:plain:"),
        "{log}"
    );
    round_trip(&repo, "enc", &|args| annex_with(&repo, &conf, args));
    // Store one file for good and look at what the storage holds.
    repo.write("kept.txt", b"a readable secret sentence\n");
    repo.add_all();
    annex_with(&repo, &conf, &["copy", "--to", "enc", "kept.txt"]);
    let mut objects = Vec::new();
    let mut dirs = vec![store.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read the store") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                objects.push(path);
            }
        }
    }
    let sealed: Vec<&PathBuf> = objects
        .iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("FERRYHMACSHA256--"))
        })
        .collect();
    assert_eq!(sealed.len(), 1, "objects in the store: {objects:?}");
    let bytes = std::fs::read(sealed[0]).expect("read the object");
    assert!(
        !bytes
            .windows(b"readable secret".len())
            .any(|w| w == b"readable secret"),
        "plaintext in the store"
    );
}

/// Encrypts `conf` with the real rclone, its password given by a command (`cat` of a file):
/// returns the password file and the command.
fn encrypt_with_rclone(repo: &Repo, conf: &Path, password: &str) -> (PathBuf, String) {
    let pwfile = repo.tmp.path().join("pw");
    std::fs::write(&pwfile, format!("{password}\n")).expect("write pw");
    let passcmd = format!("cat {}", pwfile.display());
    rclone_at(
        repo,
        conf,
        &[
            "config",
            "encryption",
            "set",
            "--password-command",
            &passcmd,
        ],
    );
    (pwfile, passcmd)
}
