use chrono::{DateTime, Datelike, Utc};

use super::rate::SendCounts;
use super::*;
use crate::intake::Mailbox;

pub(crate) fn new_report(msgid: Option<&str>, sha: &str) -> NewReport {
    let now = Utc::now();
    NewReport {
        received_at: now,
        from: Mailbox {
            name: None,
            address: "r@example.net".into(),
        },
        reply_to: None,
        subject: Some("s".into()),
        message_id: msgid.map(str::to_string),
        content_sha256: sha.into(),
        form: crate::crypto::open::Form::Plain,
        encrypted: false,
        decrypted_with: None,
        signature: crate::crypto::SignatureStatus::None,
        signature_covers_all: false,
        signer_matches_from: false,
        signer_fingerprint: None,
        signer_key_source: None,
        reporter_key: None,
        proven_key: None,
        proof_checked: true,
        unverified_followup_of: None,
        fields: Default::default(),
        missing: vec![],
        attachments: vec![],
        body: "b".into(),
        source_file: None,
        deadlines: Deadlines {
            acknowledge: now,
            initial_assessment: now,
            fix: None,
        },
        hints: vec![],
        suppressed_ack: false,
        unknown_signer: None,
    }
}

fn ack(to: &str) -> Vec<NewJob> {
    vec![NewJob::new(JobKind::Ack, to, Utc::now())]
}

#[test]
fn ids_are_sequential_per_year_and_dedupe_holds() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &crate::store::StoreKey::for_tests(1)).unwrap();
    let year = Utc::now().year();
    let a = store
        .commit_report("VR", new_report(Some("a@x"), "h1"), ack("r@example.net"))
        .unwrap();
    let b = store
        .commit_report("VR", new_report(None, "h2"), ack("r@example.net"))
        .unwrap();
    assert_eq!(
        a,
        Commit::Stored(OutcomeRef::Report(ReportId::new("VR", year as u16, 1)))
    );
    assert_eq!(
        b,
        Commit::Stored(OutcomeRef::Report(ReportId::new("VR", year as u16, 2)))
    );
    // Same Message-ID, different bytes; then same bytes, no Message-ID.
    let again = store
        .commit_report("VR", new_report(Some("a@x"), "h3"), ack("x"))
        .unwrap();
    assert!(matches!(again, Commit::Duplicate(OutcomeRef::Report(_))));
    let again = store
        .commit_report("VR", new_report(None, "h2"), ack("x"))
        .unwrap();
    assert!(matches!(again, Commit::Duplicate(OutcomeRef::Report(_))));
    assert_eq!(store.reports().unwrap().len(), 2);
    assert_eq!(store.jobs().unwrap().len(), 2, "no second acknowledgement");
    let id = format!("VR-{year}-0001");
    let found = store.report(&ReportId::parse(&id).unwrap()).unwrap();
    assert_eq!(found.unwrap().id.as_str(), id);
    let other = ReportId::parse("XX-2026-0001").unwrap();
    assert!(store.report(&other).unwrap().is_none());
    assert!(ReportId::parse("garbage").is_none());
}

#[test]
fn heads_stream_in_order_across_chunks_and_stop_at_the_first_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &crate::store::StoreKey::for_tests(1)).unwrap();
    for i in 0..7 {
        store
            .commit_report("VR", new_report(None, &format!("h{i}")), vec![])
            .unwrap();
    }
    let whole: Vec<String> = store
        .report_heads()
        .unwrap()
        .iter()
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(whole.len(), 7);
    for chunk in [1, 2, 3, 7, 100] {
        let mut streamed = Vec::new();
        let open = |k: &[u8], v: &[u8]| reports::open_head(&store.seal, k, v);
        decode_each_in(&store.heads, chunk, open, |h| {
            streamed.push(h.id.to_string());
            Ok(())
        })
        .unwrap();
        assert_eq!(streamed, whole, "chunk {chunk}");
    }
    let mut seen = 0;
    let err = store.each_report_head(|_| {
        seen += 1;
        if seen == 3 {
            return Err(StoreError::Decode("stop here".into()));
        }
        Ok(())
    });
    assert!(err.is_err());
    assert_eq!(seen, 3, "nothing is handed on after an error");
}

#[test]
fn sent_ack_marks_report_acknowledged_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), &crate::store::StoreKey::for_tests(1)).unwrap();
        store
            .commit_report("VR", new_report(Some("m@x"), "h"), ack("r@example.net"))
            .unwrap();
        let mut job = store.due_jobs(Utc::now()).unwrap().remove(0);
        job.state = JobState::Sent;
        job.sent_at = Some(Utc::now());
        store.save_job(&job).unwrap();
        store.flush().unwrap();
    }
    let store = Store::open(dir.path(), &crate::store::StoreKey::for_tests(1)).unwrap();
    let r = store.reports().unwrap().remove(0);
    assert_eq!(r.status, Status::Acknowledged);
    assert_eq!(r.events.len(), 2);
    assert!(store.due_jobs(Utc::now()).unwrap().is_empty());
}

#[test]
fn quarantined_message_id_does_not_block_a_readable_resend() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &crate::store::StoreKey::for_tests(1)).unwrap();
    let rec = IntakeRecord {
        at: Utc::now(),
        kind: IntakeKind::Quarantined,
        reason: "no key".into(),
        file: None,
        message_id: Some("m@x".into()),
        from: None,
        content_sha256: "h1".into(),
    };
    assert!(matches!(
        store.record_intake(rec.clone(), None).unwrap(),
        Commit::Stored(_)
    ));
    assert!(matches!(
        store.record_intake(rec, None).unwrap(),
        Commit::Duplicate(_)
    ));
    let r = store
        .commit_report("VR", new_report(Some("m@x"), "h2"), vec![])
        .unwrap();
    assert!(matches!(r, Commit::Stored(_)));
}

#[test]
fn learnt_keys_by_fingerprint_and_every_claimant_of_a_handle() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &crate::store::StoreKey::for_tests(1)).unwrap();
    assert!(
        store
            .learn_key("F1", &["K1".into(), "S".into()], b"one")
            .unwrap()
    );
    assert!(
        store
            .learn_key("F2", &["K2".into(), "S".into()], b"two")
            .unwrap()
    );
    assert!(
        !store
            .learn_key("F1", &["K1".into()], b"one, merged")
            .unwrap()
    );
    assert_eq!(store.learnt_cert("F1").unwrap().unwrap(), b"one, merged");
    // Never by a subkey's handle.
    assert!(store.learnt_cert("K2").unwrap().is_none());
    assert_eq!(store.learnt_signers("K2").unwrap(), vec![b"two".to_vec()]);
    // Two certificates claiming one handle are both candidates: neither overwrites.
    let mut both = store.learnt_signers("S").unwrap();
    both.sort();
    assert_eq!(both, vec![b"one, merged".to_vec(), b"two".to_vec()]);
    assert!(store.learnt_signers("K3").unwrap().is_empty());
    assert!(
        store.learnt_signers("K").unwrap().is_empty(),
        "exact handles only"
    );
}

#[test]
fn address_keys_keep_the_first_time_each_key_was_seen() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &crate::store::StoreKey::for_tests(1)).unwrap();
    let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let t1 = DateTime::from_timestamp(1_700_000_500, 0).unwrap();
    store.note_address_key("A@x", "F2", t1).unwrap();
    store.note_address_key("a@x", "F1", t0).unwrap();
    store
        .note_address_key("a@x", "F2", t0 + chrono::TimeDelta::days(9))
        .unwrap();
    let keys = store.address_keys("a@X").unwrap();
    assert_eq!(
        keys,
        vec![
            AddressKey {
                fingerprint: "F1".into(),
                first_seen: Some(t0)
            },
            AddressKey {
                fingerprint: "F2".into(),
                first_seen: Some(t1)
            },
        ]
    );
    assert!(store.address_keys("b@x").unwrap().is_empty());
}

#[test]
fn key_trees_of_an_earlier_version_are_migrated_once() {
    use crate::crypto::certs::signing_handles;
    use sequoia_openpgp::serialize::SerializeInto;
    let dir = tempfile::tempdir().unwrap();
    // Ten user IDs: more than a bounded copy keeps.
    let mut builder = sequoia_openpgp::cert::CertBuilder::general_purpose(Some("r@example.net"));
    for i in 0..9 {
        builder = builder.add_userid(format!("other{i}@example.net"));
    }
    let cert = builder.generate().unwrap().0;
    let fpr = cert.fingerprint().to_hex();
    {
        // Written as an earlier version did: its trees, through a store of this
        // process (so that the reopen below waits for sled to let go of it, as any
        // reopen in this process does; a raw `sled::open` would race that).
        let old = Store::open(dir.path(), &crate::store::StoreKey::for_tests(1)).unwrap();
        let db = &old.db;
        db.open_tree(TREE_KEYS)
            .unwrap()
            .insert(fpr.as_bytes(), cert.to_vec().unwrap())
            .unwrap();
        let ids = db.open_tree(LEGACY_KEY_IDS).unwrap();
        for ka in cert.keys() {
            ids.insert(ka.key().keyid().to_hex().as_bytes(), fpr.as_bytes())
                .unwrap();
        }
        db.open_tree(LEGACY_KEY_ADDRS)
            .unwrap()
            .insert(b"r@example.net", fpr.as_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let store = Store::open(dir.path(), &crate::store::StoreKey::for_tests(1)).unwrap();
    for handle in signing_handles(&cert) {
        assert_eq!(store.learnt_signers(&handle).unwrap().len(), 1, "{handle}");
    }
    // The encryption subkey is no signer.
    let enc = cert
        .keys()
        .with_policy(&crate::crypto::POLICY, None)
        .for_transport_encryption()
        .next()
        .unwrap()
        .key()
        .keyid()
        .to_hex();
    assert!(store.learnt_signers(&enc).unwrap().is_empty());
    assert_eq!(
        store.address_keys("r@example.net").unwrap(),
        vec![AddressKey {
            fingerprint: fpr.clone(),
            first_seen: None
        }]
    );
    let names = store.db.tree_names().unwrap();
    assert!(
        !names
            .iter()
            .any(|n| n.as_ref() == LEGACY_KEY_IDS.as_bytes())
    );
    let kept = crate::crypto::parse_certs(&store.learnt_cert(&fpr).unwrap().unwrap()).0;
    assert_eq!(kept[0].userids().count(), crate::crypto::certs::MAX_USERIDS);
}

#[test]
fn report_id_numbers() {
    assert_eq!(ReportId::parse_numbers("VR-2026-0001"), Some((2026, 1)));
    assert_eq!(
        ReportId::parse_numbers("MY-PROJ-2026-12345"),
        Some((2026, 12345))
    );
    assert_eq!(ReportId::parse_numbers("2026-0001"), None);
    assert_eq!(ReportId::parse_numbers("VR-x-1"), None);
}

/// A kill while sled writes its recovery snapshot leaves `snap.<lsn>.generating`,
/// which sled 0.34 then takes for the newest snapshot and refuses to open.
#[test]
fn opens_after_a_kill_left_an_unfinished_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), &crate::store::StoreKey::for_tests(1)).unwrap();
        store
            .commit_report("VR", new_report(Some("a@x"), "h1"), ack("r@example.net"))
            .unwrap();
    }
    // The second open recovers from the log and writes a snapshot.
    drop(Store::open(dir.path(), &crate::store::StoreKey::for_tests(1)).unwrap());
    let snapshot = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("snap.")
        })
        .unwrap(); // sled wrote one
    // Torn copies: empty, and half of a real one, with a newer LSN.
    let bytes = std::fs::read(&snapshot).unwrap();
    std::fs::write(dir.path().join("snap.7FFFFFFFFFFFFFFF.generating"), b"").unwrap();
    std::fs::write(
        dir.path().join("snap.7FFFFFFFFFFFFFFE.generating"),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();

    let store = Store::open(dir.path(), &crate::store::StoreKey::for_tests(1)).unwrap();
    assert_eq!(store.reports().unwrap().len(), 1);
    assert!(store.seen(Some("a@x"), "h1").unwrap().is_some());
}

#[test]
fn unfinished_snapshots_of_a_store_in_use_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &crate::store::StoreKey::for_tests(1)).unwrap();
    let torn = dir.path().join("snap.7FFFFFFFFFFFFFFF.generating");
    std::fs::write(&torn, b"").unwrap();
    let err = Store::open(dir.path(), &crate::store::StoreKey::for_tests(1))
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            StoreError::Locked {
                holder: Holder::ThisProcess,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("already open in this process"),
        "{err}"
    );
    assert!(torn.exists());
    drop(store);
}

/// Issue 18: sled lets go of its lock a moment after the last handle is dropped, so
/// reopening at once failed now and then. Every reopen must succeed, after a write.
#[test]
fn a_store_dropped_and_reopened_500_times_opens_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    for i in 0..500u32 {
        let store = Store::open(dir.path(), &crate::store::StoreKey::for_tests(1))
            .unwrap_or_else(|e| panic!("reopen {i} after {:?}: {e}", started.elapsed()));
        store.learn_key(&format!("{i:040X}"), &[], b"cert").unwrap();
        drop(store);
    }
    let store = Store::open(dir.path(), &crate::store::StoreKey::for_tests(1)).unwrap();
    assert!(
        store
            .learnt_cert(&format!("{:040X}", 499))
            .unwrap()
            .is_some()
    );
    eprintln!("500 reopens in {:?}", started.elapsed());
}

#[test]
fn a_read_only_open_refuses_to_create_a_store_and_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    let err = Store::open_existing(&path, &crate::store::StoreKey::for_tests(1))
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::Missing { .. }), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(!path.exists(), "nothing was created");
    drop(Store::open(&path, &crate::store::StoreKey::for_tests(1)).unwrap());
    Store::open_existing(&path, &crate::store::StoreKey::for_tests(1)).unwrap();
}

/// A store with something in every kind of tree: reports with their acknowledgements,
/// a quarantined message with its notice, a learnt key.
pub(super) fn fill(store: &Store) {
    store
        .commit_report("VR", new_report(Some("a@x"), "h1"), ack("r@example.net"))
        .unwrap();
    store
        .commit_report("VR", new_report(None, "h2"), ack("r@example.net"))
        .unwrap();
    let rec = IntakeRecord {
        at: Utc::now(),
        kind: IntakeKind::Quarantined,
        reason: "no key".into(),
        file: None,
        message_id: Some("q@x".into()),
        from: Some("q@example.net".into()),
        content_sha256: "h3".into(),
    };
    store
        .record_intake(
            rec,
            Some(NewJob::new(JobKind::Ack, "q@example.net", Utc::now())),
        )
        .unwrap();
    store.learn_key("FPR", &["KEYID".into()], b"cert").unwrap();
    store.flush().unwrap();
}

#[test]
fn open_jobs_index_follows_every_state_change_and_is_rebuilt_when_missing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &crate::store::StoreKey::for_tests(1)).unwrap();
    let now = Utc::now();
    let mut report = new_report(Some("a@x"), "h1");
    report.body = "the whole report text".into();
    report.fields.title = Some("Title".into());
    report.fields.description = Some("long description".into());
    store
        .commit_report("VR", report, ack("r@example.net"))
        .unwrap();
    store
        .commit_report("VR", new_report(Some("b@x"), "h2"), ack("s@example.net"))
        .unwrap();
    let due = store.due_jobs(now + chrono::Duration::seconds(1)).unwrap();
    assert_eq!(due.len(), 2);
    // Not yet due.
    assert!(
        store
            .due_jobs(now - chrono::Duration::hours(1))
            .unwrap()
            .is_empty()
    );

    let (mut sent, mut failed) = (due[0].clone(), due[1].clone());
    sent.state = JobState::Sent;
    sent.sent_at = Some(now);
    store.save_job(&sent).unwrap();
    failed.state = JobState::Failed;
    store.save_job(&failed).unwrap();
    let later = now + chrono::Duration::hours(1);
    assert!(store.due_jobs(later).unwrap().is_empty());
    let open: Vec<u64> = store.open_jobs().unwrap().iter().map(|j| j.id).collect();
    assert_eq!(open, vec![failed.id]);
    // The sent acknowledgement moved its report on, in the heads too.
    let heads = store.report_heads().unwrap();
    assert_eq!(heads.len(), 2);
    assert_eq!(store.report_count().unwrap(), 2);
    assert_eq!(heads[0].status, Status::Acknowledged);
    assert_eq!(heads[0].data.fields.title.as_deref(), Some("Title"));
    assert!(heads[0].data.body.is_empty() && heads[0].data.fields.description.is_none());
    assert_eq!(
        store.report(&heads[0].id).unwrap().unwrap().data.body,
        "the whole report text"
    );
    assert!(store.retry_job(failed.id, later).unwrap());
    assert_eq!(store.due_jobs(later).unwrap().len(), 1);

    // A store written before the derived trees existed gets them at open.
    store.heads.clear().unwrap();
    store.outbox_open.clear().unwrap();
    store.meta.remove(META_INDEXES).unwrap();
    store.flush().unwrap();
    drop(store);
    let store = Store::open(dir.path(), &crate::store::StoreKey::for_tests(1)).unwrap();
    assert_eq!(store.report_heads().unwrap().len(), 2);
    let due: Vec<u64> = store
        .due_jobs(later)
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(due, vec![failed.id]);

    // An older version run in between wrote a job and no index entry for it.
    let (k, _) = store.outbox_open.last().unwrap().unwrap();
    store.outbox_open.remove(&k).unwrap();
    let (k, _) = store.heads.last().unwrap().unwrap();
    store.heads.remove(&k).unwrap();
    store.flush().unwrap();
    drop(store);
    let store = Store::open(dir.path(), &crate::store::StoreKey::for_tests(1)).unwrap();
    assert_eq!(store.report_heads().unwrap().len(), 2);
    assert_eq!(store.due_jobs(later).unwrap().len(), 1);

    // Heads in the first layout (whole reports, version 1) are rewritten at open.
    for item in store.reports.iter().unwrap() {
        let (k, v) = item.unwrap();
        store.heads.insert(k, v).unwrap();
    }
    store.meta.insert(META_INDEXES, &[1u8]).unwrap();
    store.flush().unwrap();
    assert!(
        store.report_heads().is_err(),
        "the old layout does not read as heads"
    );
    drop(store);
    let store = Store::open(dir.path(), &crate::store::StoreKey::for_tests(1)).unwrap();
    let heads = store.report_heads().unwrap();
    assert_eq!(heads.len(), 2);
    assert_eq!(heads[0].data.fields.title.as_deref(), Some("Title"));
    assert!(heads[0].data.body.is_empty());
}

#[test]
fn send_counts_stay_small_and_read_the_older_form() {
    // A window of an hour counts in buckets of a minute.
    let mut counts = SendCounts(Vec::new());
    for t in 0..600 {
        counts.add(10_000 + t, 3600);
    }
    assert_eq!(counts.total(), 600);
    assert!(counts.0.len() <= 11, "{} buckets", counts.0.len());
    // Buckets wholly before the window are forgotten; the one that straddles its
    // start still counts, so no send inside the window is forgotten.
    counts.forget_before(10_000 + 300, 3600);
    assert!(
        counts.total() < 600 && counts.total() >= 300,
        "{}",
        counts.total()
    );
    counts.forget_before(20_000, 3600);
    assert_eq!(counts.total(), 0);

    // The older record, one timestamp per send, still counts each send.
    let old = encode(&vec![5i64, 6, 7]).unwrap();
    let mut counts = SendCounts::decode(Some(&old));
    assert_eq!(counts.total(), 3);
    // Read back as buckets starting at each send, of the window's width.
    counts.forget_before(5 + 60, 3600);
    assert_eq!(counts.total(), 2);
    assert_eq!(SendCounts::decode(Some(b"not json")).total(), 0);
    // What is stored reads back.
    let stored = encode(&SendCounts::decode(Some(&old)).0).unwrap();
    assert_eq!(SendCounts::decode(Some(&stored)).total(), 3);
    assert_eq!(SendCounts::decode(None).total(), 0);
}

/// Every file under `dir` that holds `needle`, by path.
fn files_holding(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else if std::fs::read(&p)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle)
            {
                found.push(p.display().to_string());
            }
        }
    }
    found
}

/// A report whose body, attachment (name and bytes), follow-up and note carry
/// canaries, committed with its attachment; its ID.
fn canary_report(store: &Store) -> ReportId {
    let data = b"attachment-bytes-canary-heron";
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(data))
    };
    store.put_attachment(&sha, data).unwrap();
    let mut r = new_report(Some("canary@x"), "hc");
    r.body = "body-canary-osprey".into();
    r.attachments = vec![AttachmentMeta {
        name: Some("name-canary-kestrel.py".into()),
        content_type: "text/x-python".into(),
        size: data.len() as u64,
        sha256: sha,
    }];
    let Commit::Stored(OutcomeRef::Report(id)) =
        store.commit_report("VR", r, ack("r@example.net")).unwrap()
    else {
        panic!("not stored")
    };
    store
        .modify_report(&id, |r| {
            r.events.push(Event::new(
                Utc::now(),
                "cli:dana",
                "internal",
                Some("note-canary-plover".into()),
            ));
            Ok(vec![NewJob::new(
                JobKind::TeamNotice {
                    text: "relayed-canary-curlew".into(),
                    subject: "s".into(),
                    in_reply_to: None,
                    references: vec![],
                },
                "bob@example.org",
                Utc::now(),
            )])
        })
        .unwrap();
    store.flush().unwrap();
    id
}

const CANARIES: [&str; 5] = [
    "body-canary-osprey",
    "name-canary-kestrel",
    "attachment-bytes-canary-heron",
    "note-canary-plover",
    "relayed-canary-curlew",
];

#[test]
fn issue_28_no_canary_reaches_the_store_files_and_clear_writing_shows_the_search_works() {
    let key = crate::store::StoreKey::for_tests(3);
    let sealed = tempfile::tempdir().unwrap();
    let store = Store::open(sealed.path(), &key).unwrap();
    let id = canary_report(&store);
    // Readable through the store.
    let r = store.report(&id).unwrap().unwrap();
    assert_eq!(r.data.body, "body-canary-osprey");
    assert_eq!(
        store
            .attachment(&r.data.attachments[0].sha256)
            .unwrap()
            .unwrap(),
        b"attachment-bytes-canary-heron"
    );
    assert_eq!(store.report_heads().unwrap().len(), 1);
    drop(store);
    for c in CANARIES {
        let hits = files_holding(sealed.path(), c.as_bytes());
        assert!(hits.is_empty(), "{c} in {hits:?}");
    }
    // The same with the store writing in clear, as before sealing: every canary is
    // found, so the search above can fail.
    let clear = tempfile::tempdir().unwrap();
    let store = Store::open_writing_clear(clear.path(), &key).unwrap();
    canary_report(&store);
    drop(store);
    for c in CANARIES {
        assert!(
            !files_holding(clear.path(), c.as_bytes()).is_empty(),
            "{c} not found in a clear store"
        );
    }
}

#[test]
fn issue_28_a_wrong_store_key_is_refused_before_anything_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &crate::store::StoreKey::for_tests(3)).unwrap();
    canary_report(&store);
    drop(store);
    let err = Store::open(dir.path(), &crate::store::StoreKey::for_tests(4))
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::WrongKey), "{err}");
    // The right one still opens it.
    let store = Store::open(dir.path(), &crate::store::StoreKey::for_tests(3)).unwrap();
    assert_eq!(store.reports().unwrap().len(), 1);
}

#[test]
fn issue_28_purge_destroys_the_content_for_good_and_later_backups_lack_it() {
    let key = crate::store::StoreKey::for_tests(3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let store = Store::open(&path, &key).unwrap();
    let id = canary_report(&store);
    let other = store
        .commit_report("VR", new_report(Some("o@x"), "ho"), ack("o@example.net"))
        .unwrap();
    store.flush().unwrap();
    let sealed_value = store
        .reports
        .get(super::reports::key_of(&id).unwrap())
        .unwrap()
        .unwrap();
    drop(store);
    // Everything sled ever wrote, as an attacker copying the disk before the purge
    // would have it.
    let before = dir.path().join("before");
    copy_dir(&path, &before);

    let store = Store::open(&path, &key).unwrap();
    // A job of the report, in hand in a delivery round while the report is purged.
    let in_hand = store
        .jobs()
        .unwrap()
        .into_iter()
        .find(|j| j.outcome == Some(OutcomeRef::Report(id.clone())))
        .unwrap();
    let done = store
        .purge_report(&id, "cli:dana", "retention test", Utc::now())
        .unwrap();
    let live_after_purge = store.seal.pool_counts().unwrap().1;
    let mut sent = in_hand.clone();
    sent.state = JobState::Sent;
    store.save_job(&sent).unwrap();
    assert!(
        store.job(in_hand.id).unwrap().is_none(),
        "the job came back"
    );
    assert_eq!(
        store.seal.pool_counts().unwrap().1,
        live_after_purge,
        "a new data key was drawn for the purged report"
    );
    assert_eq!(done.attachments, 1);
    assert!(
        done.jobs >= 2,
        "the acknowledgement and the team notice: {done:?}"
    );
    assert!(store.report(&id).unwrap().is_none());
    let stone = store.tombstone(&id).unwrap().unwrap();
    assert_eq!(stone.reason, "retention test");
    assert!(stone.pending_slots.is_empty());
    assert_eq!(
        store.report_heads().unwrap().len(),
        1,
        "the other report stays"
    );
    assert!(store.seen(Some("canary@x"), "hc").unwrap().is_none());
    assert!(store.thread_of("canary@x").unwrap().is_none());
    let Commit::Stored(OutcomeRef::Report(other)) = other else {
        panic!()
    };
    assert!(store.report(&other).unwrap().is_some());
    // The record sealed before the purge no longer opens, even with the store key.
    let k = super::reports::key_of(&id).unwrap();
    let err = super::reports::open_report(&store.seal, &k, &sealed_value)
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::Purged(_)), "{err}");
    // A backup made now has neither its records nor its wrapped key.
    let mut backup = Vec::new();
    store.export(&mut backup).unwrap();
    let slot = super::seal::Sealer::slot_of(&sealed_value).unwrap();
    let pool = std::fs::read(
        before
            .join(super::seal::KEY_DIR)
            .join(super::seal::POOL_FILE),
    )
    .unwrap();
    let at = usize::try_from(16 + slot * super::seal::SLOT).unwrap();
    let wrapped = &pool[at..at + usize::try_from(super::seal::SLOT).unwrap()];
    assert_eq!(
        wrapped[0], 1,
        "the slot held the wrapped key before the purge"
    );
    assert!(!backup.windows(wrapped.len()).any(|w| w == wrapped));
    drop(store);
    // The old copy with today's key files: every sealed byte sled ever held for the
    // report, and the store key, do not give it back.
    std::fs::remove_dir_all(before.join(super::seal::KEY_DIR)).unwrap();
    copy_dir(
        &path.join(super::seal::KEY_DIR),
        &before.join(super::seal::KEY_DIR),
    );
    let old = Store::open(&before, &key).unwrap();
    let err = old.report(&id).err().unwrap();
    assert!(matches!(err, StoreError::Purged(_)), "{err}");
    for c in CANARIES {
        assert!(files_holding(&before, c.as_bytes()).is_empty(), "{c}");
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn issue_28_a_clear_store_is_sealed_at_open_and_nothing_is_lost() {
    let key = crate::store::StoreKey::for_tests(3);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_writing_clear(dir.path(), &key).unwrap();
    let id = canary_report(&store);
    let before = (
        store.reports().unwrap(),
        store.report_heads().unwrap(),
        store.jobs().unwrap(),
    );
    drop(store);
    assert!(!Store::is_sealed(dir.path()));
    let store = Store::open(dir.path(), &key).unwrap();
    assert!(Store::is_sealed(dir.path()));
    assert_eq!(
        before,
        (
            store.reports().unwrap(),
            store.report_heads().unwrap(),
            store.jobs().unwrap()
        )
    );
    let r = store.report(&id).unwrap().unwrap();
    assert_eq!(
        store
            .attachment(&r.data.attachments[0].sha256)
            .unwrap()
            .unwrap(),
        b"attachment-bytes-canary-heron"
    );
    // Every value is sealed now: none starts with the clear schema byte.
    for t in [&store.reports, &store.heads, &store.outbox] {
        for item in t.iter().unwrap() {
            let (_, v) = item.unwrap();
            assert_eq!(v.first(), Some(&super::seal::SEALED));
        }
    }
    for item in store.attachments.iter().unwrap() {
        let (_, v) = item.unwrap();
        assert_eq!(v.first(), Some(&super::seal::SEALED));
    }
    // The indexes were moved to keyed hashes and still find the report.
    assert_eq!(
        store.seen(Some("canary@x"), "other").unwrap(),
        Some(OutcomeRef::Report(id.clone()))
    );
    assert_eq!(store.thread_of("canary@x").unwrap(), Some(id.clone()));
    assert_eq!(store.intake_records().unwrap().len(), 0);
    // Opened again, nothing is sealed twice.
    assert_eq!(
        store.seal_existing().unwrap(),
        super::shred::Sealed::default()
    );
}

#[test]
fn issue_28_indexes_keep_keyed_hashes_not_message_ids_or_addresses() {
    let key = crate::store::StoreKey::for_tests(3);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &key).unwrap();
    let Commit::Stored(OutcomeRef::Report(id)) = store
        .commit_report(
            "VR",
            new_report(Some("msgid-canary-wren@example.net"), "sha-canary-finch"),
            ack("r@example.net"),
        )
        .unwrap()
    else {
        panic!()
    };
    let limits = crate::config::RateLimits {
        per_sender: 5,
        per_sender_window: std::time::Duration::from_secs(3600),
        per_domain: 5,
        per_domain_window: std::time::Duration::from_secs(3600),
        global: 5,
        global_window: std::time::Duration::from_secs(3600),
        notice_window: std::time::Duration::from_secs(3600),
    };
    let now = Utc::now();
    assert!(
        store
            .take_send_slot("victim-canary@sparrow-canary.example", now, &limits)
            .unwrap()
    );
    assert!(
        store
            .take_notice_slot("notice-canary@example.net", now, chrono::Duration::hours(1))
            .unwrap()
    );
    // Found again by value.
    assert_eq!(
        store
            .seen(Some("msgid-canary-wren@example.net"), "x")
            .unwrap(),
        Some(OutcomeRef::Report(id.clone()))
    );
    assert_eq!(
        store.seen(None, "sha-canary-finch").unwrap(),
        Some(OutcomeRef::Report(id.clone()))
    );
    assert_eq!(
        store.thread_of("msgid-canary-wren@example.net").unwrap(),
        Some(id)
    );
    assert!(
        !store
            .take_notice_slot("notice-canary@example.net", now, chrono::Duration::hours(1))
            .unwrap()
    );
    store.flush().unwrap();
    drop(store);
    for c in [
        "msgid-canary-wren",
        "sha-canary-finch",
        "victim-canary",
        "sparrow-canary",
        "notice-canary",
    ] {
        let hits = files_holding(dir.path(), c.as_bytes());
        assert!(hits.is_empty(), "{c} in {hits:?}");
    }
}

#[test]
fn issue_28_retention_schedules_closed_reports_from_their_last_change_of_state() {
    let key = crate::store::StoreKey::for_tests(3);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &key).unwrap();
    let mut ids = Vec::new();
    for i in 0..3 {
        let Commit::Stored(OutcomeRef::Report(id)) = store
            .commit_report("VR", new_report(None, &format!("r{i}")), vec![])
            .unwrap()
        else {
            panic!()
        };
        ids.push(id);
    }
    let t0 = Utc::now() - chrono::TimeDelta::days(400);
    for (id, status, at) in [
        (&ids[0], Status::Disclosed, t0),
        (&ids[1], Status::Rejected, t0 + chrono::TimeDelta::days(350)),
    ] {
        store
            .modify_report(id, |r| {
                r.status = status;
                r.events.push(Event::new(at, "cli:dana", "status", None));
                Ok(vec![])
            })
            .unwrap();
    }
    let periods = [
        (Status::Disclosed, chrono::TimeDelta::days(365)),
        (Status::Rejected, chrono::TimeDelta::days(90)),
    ];
    let due = store.retention_schedule(&periods).unwrap();
    assert_eq!(due.len(), 2, "the open report is not scheduled");
    assert_eq!(due[0].id, ids[0]);
    assert_eq!(due[0].at, t0 + chrono::TimeDelta::days(365));
    assert_eq!(due[1].id, ids[1]);
    assert_eq!(due[1].at, t0 + chrono::TimeDelta::days(440));
    assert!(store.retention_schedule(&[]).unwrap().is_empty());
}
