//! Property tests: every message family prints what it parses (`parse(x.to_string()) == x`)
//! for generated values of every variant, and no parser panics on any input.

use proptest::prelude::*;
use remote_proto::message::Outgoing;
use remote_proto::{
    Answer, Availability, Direction, Extension, Framed, Incoming, Key, Message, Reply, Request,
    Session, UrlEntry,
};

/// A parameter that is not the last one: no whitespace, not empty.
fn word() -> impl Strategy<Value = String> {
    "[^\\s]{1,12}"
}

/// A last parameter: anything but a line break, spaces and tabs included.
fn text() -> impl Strategy<Value = String> {
    "[^\r\n]{0,24}"
}

fn nonempty_text() -> impl Strategy<Value = String> {
    "[^\r\n]{1,24}"
}

fn key() -> impl Strategy<Value = Key> {
    (
        prop::sample::select(vec![
            "SHA256E",
            "MD5",
            "WORM",
            "GPGHMACSHA512",
            "URL",
            "VURL",
        ]),
        prop::option::of(0u64..1 << 40),
        prop::option::of(0i64..1 << 33),
        prop::option::of((1u64..1 << 30, 1u64..5000)),
        "[A-Za-z0-9.,:/&%_-]{1,30}",
    )
        .prop_map(|(variety, size, mtime, chunk, name)| {
            let mut s = variety.to_owned();
            if let Some(n) = size {
                s.push_str(&format!("-s{n}"));
            }
            if let Some(m) = mtime {
                s.push_str(&format!("-m{m}"));
            }
            if let Some((cs, cn)) = chunk {
                s.push_str(&format!("-S{cs}-C{cn}"));
            }
            s.push_str("--");
            s.push_str(&name);
            Key::parse(&s).expect("generated keys are valid")
        })
}

fn extension() -> impl Strategy<Value = Extension> {
    prop_oneof![
        Just(Extension::Info),
        Just(Extension::Async),
        Just(Extension::GetGitRemoteName),
        Just(Extension::UnavailableResponse),
        Just(Extension::TransferRetrieveUrl),
        Just(Extension::CheckPresentUrl),
        Just(Extension::ImportKey),
        Just(Extension::Delegate),
        // lower case, so never one of the known names
        "[a-z][a-z-]{0,9}".prop_map(Extension::Other),
    ]
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![Just(Direction::Store), Just(Direction::Retrieve)]
}

fn request() -> impl Strategy<Value = Request> {
    let simple = prop_oneof![
        Just(Request::InitRemote),
        Just(Request::Prepare),
        Just(Request::ListConfigs),
        Just(Request::GetCost),
        Just(Request::GetAvailability),
        Just(Request::GetOrdered),
        Just(Request::GetInfo),
        Just(Request::ExportSupported),
        Just(Request::ImportSupported),
        Just(Request::ListImportableContents),
    ];
    let keyed = prop_oneof![
        key().prop_map(Request::CheckPresent),
        key().prop_map(Request::Remove),
        key().prop_map(Request::WhereIs),
        key().prop_map(Request::CheckPresentExport),
        key().prop_map(Request::RemoveExport),
        key().prop_map(Request::CheckPresentImport),
        (direction(), key(), nonempty_text()).prop_map(|(dir, key, file)| Request::Transfer {
            dir,
            key,
            file
        }),
        (direction(), key(), nonempty_text())
            .prop_map(|(dir, key, file)| Request::TransferExport { dir, key, file }),
        (key(), nonempty_text())
            .prop_map(|(key, new_name)| Request::RenameExport { key, new_name }),
    ];
    let texts = prop_oneof![
        prop::collection::vec(extension(), 0..6).prop_map(Request::Extensions),
        nonempty_text().prop_map(Request::ClaimUrl),
        nonempty_text().prop_map(Request::CheckUrl),
        nonempty_text().prop_map(Request::Export),
        nonempty_text().prop_map(Request::RemoveExportDirectory),
        nonempty_text().prop_map(Request::Import),
        nonempty_text().prop_map(Request::RetrieveImport),
        (any::<u64>(), nonempty_text()).prop_map(|(size, cid)| Request::ImportKey { size, cid }),
        ("[a-z][a-zA-Z0-9-]{0,10}", prop::option::of(text())).prop_map(|(verb, rest)| {
            Request::Unknown(match rest {
                Some(r) => format!("{verb} {r}"),
                None => verb,
            })
        }),
    ];
    prop_oneof![simple, keyed, texts]
}

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        text().prop_map(Answer::Value),
        (prop_oneof![Just(String::new()), word()], text())
            .prop_map(|(user, password)| Answer::Creds { user, password }),
        text().prop_map(Answer::DownloadUrlSuccess),
        text().prop_map(Answer::DownloadUrlFailure),
        text().prop_map(Answer::Error),
    ]
}

fn size() -> impl Strategy<Value = Option<u64>> {
    prop::option::of(any::<u64>())
}

fn reply() -> impl Strategy<Value = Reply> {
    let bare = prop_oneof![
        Just(Reply::InitRemoteSuccess),
        Just(Reply::PrepareSuccess),
        Just(Reply::Ordered),
        Just(Reply::Unordered),
        Just(Reply::ClaimUrlSuccess),
        Just(Reply::ClaimUrlFailure),
        Just(Reply::WhereIsFailure),
        Just(Reply::ConfigEnd),
        Just(Reply::InfoEnd),
        Just(Reply::ExportSupportedSuccess),
    ];
    let bare2 = prop_oneof![
        Just(Reply::ExportSupportedFailure),
        Just(Reply::RemoveExportDirectorySuccess),
        Just(Reply::RemoveExportDirectoryFailure),
        Just(Reply::ImportSupportedSuccess),
        Just(Reply::ImportSupportedFailure),
        Just(Reply::ImportRequired),
        Just(Reply::ListImportableContentsSuccess),
        Just(Reply::RetrieveImportSuccess),
        Just(Reply::ImportKeySkip),
        Just(Reply::UnsupportedRequest),
    ];
    let keyed = prop_oneof![
        (direction(), key()).prop_map(|(dir, key)| Reply::TransferSuccess { dir, key }),
        (direction(), key(), text()).prop_map(|(dir, key, msg)| Reply::TransferFailure {
            dir,
            key,
            msg
        }),
        (key(), nonempty_text()).prop_map(|(key, url)| Reply::TransferRetrieveUrl { key, url }),
        key().prop_map(Reply::CheckPresentSuccess),
        key().prop_map(Reply::CheckPresentFailure),
        (key(), text()).prop_map(|(key, msg)| Reply::CheckPresentUnknown { key, msg }),
        (key(), nonempty_text()).prop_map(|(key, url)| Reply::CheckPresentUrl { key, url }),
        key().prop_map(Reply::RemoveSuccess),
        (key(), text()).prop_map(|(key, msg)| Reply::RemoveFailure { key, msg }),
        key().prop_map(Reply::RenameExportSuccess),
    ];
    let keyed2 = prop_oneof![
        key().prop_map(Reply::RenameExportFailure),
        key().prop_map(Reply::ImportKeySuccess),
    ];
    let texts = prop_oneof![
        text().prop_map(Reply::InitRemoteFailure),
        text().prop_map(Reply::PrepareFailure),
        text().prop_map(Reply::CheckUrlFailure),
        text().prop_map(Reply::WhereIsSuccess),
        text().prop_map(Reply::InfoField),
        text().prop_map(Reply::InfoValue),
        nonempty_text().prop_map(Reply::ImportableContentIdentifier),
        text().prop_map(Reply::ListImportableContentsFailure),
        text().prop_map(Reply::RetrieveImportFailure),
        nonempty_text().prop_map(Reply::RetrieveImportUrl),
    ];
    let others = prop_oneof![
        text().prop_map(Reply::ImportKeyFailure),
        text().prop_map(Reply::Error),
        prop::collection::vec(extension(), 0..6).prop_map(Reply::Extensions),
        any::<u32>().prop_map(Reply::Cost),
        prop_oneof![
            Just(Availability::Global),
            Just(Availability::Local),
            Just(Availability::Unavailable)
        ]
        .prop_map(Reply::Availability),
        (size(), text()).prop_map(|(size, filename)| Reply::CheckUrlContents { size, filename }),
        prop::collection::vec(
            (word(), size(), word()).prop_map(|(url, size, filename)| UrlEntry {
                url,
                size,
                filename
            }),
            1..4
        )
        .prop_map(Reply::CheckUrlMulti),
        (word(), text()).prop_map(|(name, description)| Reply::Config { name, description }),
        (any::<u64>(), nonempty_text())
            .prop_map(|(size, name)| Reply::ImportableContent { size, name }),
        prop::collection::vec(word(), 0..4).prop_map(Reply::Delegate),
    ];
    prop_oneof![bare, bare2, keyed, keyed2, texts, others]
}

fn message() -> impl Strategy<Value = Message> {
    let a = prop_oneof![
        any::<u32>().prop_map(Message::Version),
        any::<u64>().prop_map(Message::Progress),
        key().prop_map(Message::DirHash),
        key().prop_map(Message::DirHashLower),
        (word(), text()).prop_map(|(name, value)| Message::SetConfig { name, value }),
        nonempty_text().prop_map(Message::GetConfig),
        (word(), prop_oneof![Just(String::new()), word()], text()).prop_map(
            |(setting, user, password)| Message::SetCreds {
                setting,
                user,
                password
            }
        ),
        nonempty_text().prop_map(Message::GetCreds),
        Just(Message::GetUuid),
        Just(Message::GetGitDir),
    ];
    let b = prop_oneof![
        Just(Message::GetGitRemoteName),
        text().prop_map(Message::SetWanted),
        Just(Message::GetWanted),
        (key(), text()).prop_map(|(key, value)| Message::SetState { key, value }),
        key().prop_map(Message::GetState),
        (key(), nonempty_text()).prop_map(|(key, url)| Message::SetUrlPresent { key, url }),
        (key(), nonempty_text()).prop_map(|(key, url)| Message::SetUrlMissing { key, url }),
        (key(), nonempty_text()).prop_map(|(key, uri)| Message::SetUriPresent { key, uri }),
        (key(), nonempty_text()).prop_map(|(key, uri)| Message::SetUriMissing { key, uri }),
        (key(), text()).prop_map(|(key, prefix)| Message::GetUrls { key, prefix }),
    ];
    let c = prop_oneof![
        text().prop_map(Message::Debug),
        text().prop_map(Message::Info),
        text().prop_map(Message::Error),
        nonempty_text().prop_map(Message::DownloadUrl),
    ];
    prop_oneof![a, b, c]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn requests_round_trip(r in request()) {
        let line = r.to_string();
        prop_assert!(!line.contains(['\n', '\r']));
        prop_assert_eq!(Request::parse(&line), Ok(r.clone()));
        prop_assert_eq!(Incoming::parse(&line), Ok(Incoming::Request(r)));
    }

    #[test]
    fn answers_round_trip(a in answer()) {
        let line = a.to_string();
        prop_assert_eq!(Answer::parse(&line), Ok(a.clone()));
        prop_assert_eq!(Incoming::parse(&line), Ok(Incoming::Answer(a)));
    }

    #[test]
    fn replies_round_trip(r in reply()) {
        let line = r.to_string();
        prop_assert!(!line.contains(['\n', '\r']));
        prop_assert_eq!(Reply::parse(&line), Ok(r.clone()));
        prop_assert_eq!(Outgoing::parse(&line), Ok(Outgoing::Reply(r)));
    }

    #[test]
    fn messages_round_trip(m in message()) {
        let line = m.to_string();
        prop_assert_eq!(Message::parse(&line), Ok(m.clone()));
        // ERROR is both a message and a reply; Outgoing reads it as the reply.
        if let Message::Error(msg) = &m {
            prop_assert_eq!(Outgoing::parse(&line), Ok(Outgoing::Reply(Reply::Error(msg.clone()))));
        } else {
            prop_assert_eq!(Outgoing::parse(&line), Ok(Outgoing::Message(m)));
        }
    }

    #[test]
    fn framing_round_trips(job in prop::option::of(any::<u32>()), r in reply()) {
        let framed = Framed::new(job, r.to_string());
        let line = framed.to_string();
        prop_assert_eq!(Framed::parse(&line), Ok(framed));
    }

    #[test]
    fn free_text_with_line_breaks_never_escapes_its_line(
        k in key(),
        msg in "[^\r\n]{0,8}[\r\n][^\r\n]{0,8}",
    ) {
        let lines = [
            Reply::TransferFailure { dir: Direction::Store, key: k.clone(), msg: msg.clone() }
                .to_string(),
            Reply::Config { name: "n".into(), description: msg.clone() }.to_string(),
            Message::Debug(msg.clone()).to_string(),
            Request::Export(msg.clone()).to_string(),
            Answer::Value(msg).to_string(),
        ];
        for l in lines {
            prop_assert!(!l.contains(['\n', '\r']), "{l:?}");
        }
    }

    #[test]
    fn no_parser_panics_on_any_text(s in "\\PC{0,60}|[ -~\t\r]{0,60}|J [0-9x]{0,3} [A-Z-]{0,20} [^\n]{0,30}") {
        let _ = Request::parse(&s);
        let _ = Reply::parse(&s);
        let _ = Message::parse(&s);
        let _ = Answer::parse(&s);
        let _ = Incoming::parse(&s);
        let _ = Outgoing::parse(&s);
        let _ = Framed::parse(&s);
        let _ = Key::parse(&s);
        let mut session = Session::new([Extension::Async, Extension::Info]);
        let _ = session.handle_line(&s);
    }

    #[test]
    fn no_parser_panics_on_verb_plus_garbage(
        verb in prop::sample::select(vec![
            "TRANSFER", "TRANSFEREXPORT", "CHECKPRESENT", "IMPORTKEY", "RENAMEEXPORT",
            "TRANSFER-FAILURE", "TRANSFER-SUCCESS", "CHECKURL-MULTI", "CHECKURL-CONTENTS",
            "COST", "AVAILABILITY", "IMPORTABLECONTENT", "CREDS", "VALUE", "SETCREDS",
            "GETURLS", "SETSTATE", "VERSION", "PROGRESS", "J",
        ]),
        rest in "[^\n]{0,40}",
    ) {
        let s = format!("{verb} {rest}");
        let _ = Incoming::parse(&s);
        let _ = Outgoing::parse(&s);
        let _ = Framed::parse(&s);
        let mut session = Session::new([Extension::Async]);
        let _ = session.handle_line(&s);
    }
}
