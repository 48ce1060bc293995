//! git-annex's side of the remote's queries: the emulated repository state (configuration,
//! per-key state, credentials, URLs) and the answer to each query.
//!
//! It behaves as git-annex 10.20261026 was observed to: GETCONFIG answers from the remote's
//! configuration (`VALUE ` when unset); SETCONFIG during INITREMOTE is persisted for later
//! processes, at any other time it lives in that process only; GETCREDS without stored
//! credentials is `CREDS  `; GETURLS ends with an empty `VALUE`; everything it does not serve
//! is refused with `ERROR cannot send … here`, after which git-annex keeps waiting for the
//! request's reply.

use std::collections::BTreeMap;

use remote_proto::dirhash::{hashdir_lower, hashdir_mixed};
use remote_proto::{Answer, Message};

/// The UUID every emulated repository gives its remote.
pub const UUID: &str = "a1c2e3f4-0000-4000-8000-c0f0a7e5a17e";
/// The git remote name the suite answers GETGITREMOTENAME with.
pub const REMOTE_NAME: &str = "conformance";

/// How the suite answers queries: faithfully, or in the awkward ways git-annex sometimes does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueryPolicy {
    /// Answer as git-annex does in a normal command.
    #[default]
    Normal,
    /// Refuse GETUUID, GETCREDS, GETSTATE and GETGITREMOTENAME with `ERROR`, as git-annex does
    /// in the processes it starts before a remote is initialized (LISTCONFIGS,
    /// EXPORTSUPPORTED).
    RefuseIdentity,
    /// Answer every GETCONFIG, GETUUID, GETSTATE, GETWANTED and GETGITREMOTENAME with an empty
    /// `VALUE `.
    EmptyValues,
}

/// The repository state git-annex would keep for the remote, shared by every process the
/// suite starts in one run.
#[derive(Debug, Clone, Default)]
pub struct Annex {
    /// The remote's configuration (`remote.log` plus the `-c` values), persisted settings only.
    pub config: BTreeMap<String, String>,
    /// SETSTATE values by key.
    pub state: BTreeMap<String, String>,
    /// SETCREDS values by setting: (user, password).
    pub creds: BTreeMap<String, (String, String)>,
    /// URLs recorded with SETURLPRESENT/SETURIPRESENT, by key, most recent first.
    pub urls: BTreeMap<String, Vec<String>>,
    /// The preferred content expression set with SETWANTED.
    pub wanted: String,
}

/// The per-process part: SETCONFIG values that are not persisted.
#[derive(Debug, Clone, Default)]
pub struct ProcessConfig {
    /// Values set by SETCONFIG in this process (they shadow the persisted ones).
    pub overlay: BTreeMap<String, String>,
    /// SETCONFIGs sent while INITREMOTE is being handled, persisted if it succeeds.
    pub during_init: Vec<(String, String)>,
}

impl Annex {
    /// The emulated repository of a remote configured with `params` (the `-c` values) and
    /// the fields git-annex itself keeps for an external remote.
    pub fn new(params: &[(String, String)], externaltype: &str) -> Annex {
        let mut config = BTreeMap::new();
        // GETCONFIG also returns git-annex's own fields; some remotes read them.
        config.insert("name".to_owned(), REMOTE_NAME.to_owned());
        config.insert("type".to_owned(), "external".to_owned());
        config.insert("externaltype".to_owned(), externaltype.to_owned());
        config.insert("encryption".to_owned(), "none".to_owned());
        for (k, v) in params {
            config.insert(k.clone(), v.clone());
        }
        Annex {
            config,
            ..Annex::default()
        }
    }

    /// The answers to send for `msg` (none for notices such as PROGRESS; several for GETURLS).
    /// `in_init` says whether the request being handled is INITREMOTE.
    pub fn answer(
        &mut self,
        msg: &Message,
        policy: QueryPolicy,
        process: &mut ProcessConfig,
        in_init: bool,
    ) -> Vec<Answer> {
        let value = |v: &str| vec![Answer::Value(v.to_owned())];
        let refuse = |what: &str| vec![Answer::Error(format!("cannot send {what} here"))];
        if policy == QueryPolicy::RefuseIdentity {
            match msg {
                Message::GetUuid | Message::GetCreds(_) | Message::GetState(_) => {
                    return refuse(msg.verb());
                }
                Message::GetGitRemoteName => {
                    return vec![Answer::Error("git remote name not known".to_owned())];
                }
                _ => {}
            }
        }
        if policy == QueryPolicy::EmptyValues
            && matches!(
                msg,
                Message::GetConfig(_)
                    | Message::GetUuid
                    | Message::GetState(_)
                    | Message::GetWanted
                    | Message::GetGitRemoteName
            )
        {
            return value("");
        }
        match msg {
            Message::DirHash(key) => value(&hashdir_mixed(key)),
            Message::DirHashLower(key) => value(&hashdir_lower(key)),
            Message::GetConfig(name) => {
                let v = process
                    .overlay
                    .get(name)
                    .or_else(|| self.config.get(name))
                    .cloned()
                    .unwrap_or_default();
                value(&v)
            }
            Message::SetConfig { name, value: v } => {
                process.overlay.insert(name.clone(), v.clone());
                if in_init {
                    process.during_init.push((name.clone(), v.clone()));
                }
                vec![]
            }
            Message::SetCreds {
                setting,
                user,
                password,
            } => {
                self.creds
                    .insert(setting.clone(), (user.clone(), password.clone()));
                vec![]
            }
            Message::GetCreds(setting) => {
                let (user, password) = self.creds.get(setting).cloned().unwrap_or_default();
                vec![Answer::Creds { user, password }]
            }
            Message::GetUuid => value(UUID),
            // git-annex answers with the git directory relative to the remote's cwd.
            Message::GetGitDir => value(".git"),
            Message::GetGitRemoteName => value(REMOTE_NAME),
            Message::SetWanted(expr) => {
                self.wanted = expr.clone();
                vec![]
            }
            Message::GetWanted => value(&self.wanted.clone()),
            Message::SetState { key, value: v } => {
                self.state.insert(key.as_str().to_owned(), v.clone());
                vec![]
            }
            Message::GetState(key) => {
                value(&self.state.get(key.as_str()).cloned().unwrap_or_default())
            }
            Message::SetUrlPresent { key, url } | Message::SetUriPresent { key, uri: url } => {
                let list = self.urls.entry(key.as_str().to_owned()).or_default();
                list.retain(|u| u != url);
                list.insert(0, url.clone());
                vec![]
            }
            Message::SetUrlMissing { key, url } | Message::SetUriMissing { key, uri: url } => {
                if let Some(list) = self.urls.get_mut(key.as_str()) {
                    list.retain(|u| u != url);
                }
                vec![]
            }
            Message::GetUrls { key, prefix } => {
                let mut out: Vec<Answer> = self
                    .urls
                    .get(key.as_str())
                    .into_iter()
                    .flatten()
                    .filter(|u| u.starts_with(prefix.as_str()))
                    .map(|u| Answer::Value(u.clone()))
                    .collect();
                out.push(Answer::Value(String::new()));
                out
            }
            Message::Progress(_) | Message::Debug(_) | Message::Info(_) | Message::Error(_) => {
                vec![]
            }
            Message::Version(_) => vec![Answer::Error("too late to send VERSION".to_owned())],
            Message::DownloadUrl(_) => refuse(msg.verb()),
        }
    }

    /// Persists the SETCONFIGs made during a successful INITREMOTE, as git-annex writes them to
    /// `remote.log`.
    pub fn persist(&mut self, process: &ProcessConfig) {
        for (k, v) in &process.during_init {
            self.config.insert(k.clone(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use remote_proto::Key;

    fn annex() -> Annex {
        Annex::new(&[("directory".into(), "/s".into())], "x")
    }

    #[test]
    fn getconfig_answers_from_the_config_and_empty_when_unset() {
        let mut a = annex();
        let mut p = ProcessConfig::default();
        let q = |n: &str| Message::GetConfig(n.into());
        assert_eq!(
            a.answer(&q("directory"), QueryPolicy::Normal, &mut p, false),
            vec![Answer::Value("/s".into())]
        );
        assert_eq!(
            a.answer(&q("nope"), QueryPolicy::Normal, &mut p, false)[0].to_string(),
            "VALUE "
        );
    }

    #[test]
    fn setconfig_persists_only_from_initremote() {
        let mut a = annex();
        let mut p = ProcessConfig::default();
        let set = |v: &str| Message::SetConfig {
            name: "layout".into(),
            value: v.into(),
        };
        a.answer(&set("lower"), QueryPolicy::Normal, &mut p, true);
        a.persist(&p);
        let mut later = ProcessConfig::default();
        a.answer(&set("nodir"), QueryPolicy::Normal, &mut later, false);
        assert_eq!(a.config["layout"], "lower");
        assert_eq!(
            a.answer(
                &Message::GetConfig("layout".into()),
                QueryPolicy::Normal,
                &mut later,
                false
            ),
            vec![Answer::Value("nodir".into())],
            "a process sees its own SETCONFIG"
        );
    }

    #[test]
    fn refusals_look_like_git_annex() {
        let mut a = annex();
        let mut p = ProcessConfig::default();
        let k = Key::parse("MD5E-s1--x").unwrap();
        assert_eq!(
            a.answer(
                &Message::GetUuid,
                QueryPolicy::RefuseIdentity,
                &mut p,
                false
            )[0]
            .to_string(),
            "ERROR cannot send GETUUID here"
        );
        assert_eq!(
            a.answer(
                &Message::GetState(k.clone()),
                QueryPolicy::RefuseIdentity,
                &mut p,
                false
            )[0]
            .to_string(),
            "ERROR cannot send GETSTATE here"
        );
        assert_eq!(
            a.answer(
                &Message::GetCreds("c".into()),
                QueryPolicy::Normal,
                &mut p,
                false
            )[0]
            .to_string(),
            "CREDS  "
        );
        let urls = a.answer(
            &Message::GetUrls {
                key: k,
                prefix: String::new(),
            },
            QueryPolicy::Normal,
            &mut p,
            false,
        );
        assert_eq!(urls, vec![Answer::Value(String::new())]);
    }
}
