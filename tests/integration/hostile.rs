//! Hostile mail: over a thousand malformed and adversarial messages through one
//! `run-once`. Every message must end with exactly one recorded outcome, the run
//! must exit 0 with bounded memory, and no outgoing header may carry injected lines.

use crate::pipeline::{REPORT, Scene, entity, pgp_mime_encrypted};
use crate::util::*;

/// A small deterministic generator (xorshift), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn plain(from: &str, subject: &str, msgid: &str, extra: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut h = vec![("From", from), ("Subject", subject), ("Message-ID", msgid)];
    h.extend_from_slice(extra);
    message(&h, body)
}

/// Header names the gateway writes at the top level of what it sends.
const OUR_HEADERS: [&str; 12] = [
    "from",
    "to",
    "subject",
    "message-id",
    "date",
    "auto-submitted",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    // The gateway's own key (issue 26), folded over continuation lines.
    "autocrypt",
];

#[test]
fn a_thousand_hostile_messages_each_get_one_outcome() {
    let s = Scene::new();
    // A small decompression limit keeps the bomb quick to make and to stop.
    let mut cfg = std::fs::read_to_string(&s.gw.config).unwrap();
    cfg.push_str("\n[limits]\nmax_decompressed_bytes = 8388608\n");
    // The injection cases below come from 60 mailboxes of one domain and must all be
    // answered to be checked: over the default per-domain allowance.
    cfg.push_str("[rate_limits]\nper_domain = 1000\n");
    std::fs::write(&s.gw.config, cfg).unwrap();

    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut corpus: Vec<Vec<u8>> = Vec::new();

    // Bases: a plaintext report, PGP/MIME encrypted+signed, multipart with a file.
    let base_plain = plain(
        "a@example.net",
        "Report",
        "<base1@example.net>",
        &[],
        REPORT,
    );
    let armored = s
        .gpg
        .encrypt(&s.gateway_fpr, Some(&s.alice), REPORT.as_bytes());
    let base_pgp = pgp_mime_encrypted(&s.headers("<base2@example.net>", "..."), &armored);
    let inner = entity(
        None,
        REPORT,
        &[("poc.bin", "application/octet-stream", b"\x00\x01poc")],
    );
    let base_multi = [
        b"From: b@example.net\r\nSubject: multi\r\nMessage-ID: <base3@example.net>\r\n".as_slice(),
        &inner,
    ]
    .concat();
    let bases = [base_plain.clone(), base_pgp.clone(), base_multi.clone()];

    // 1. Truncated at random points.
    for base in &bases {
        for _ in 0..110 {
            let cut = rng.below(base.len());
            corpus.push(base[..cut].to_vec());
        }
    }
    // 2. Broken boundaries.
    for i in 0..50 {
        let b = ["b", "", "\"", "x y", "--", "\u{e9}"][i % 6];
        let body = match i % 5 {
            0 => format!("--{b}\r\nContent-Type: text/plain\r\n\r\nTitle: t{i}\r\n"),
            1 => format!("--other\r\n\r\nno part\r\n--{b}--\r\n--{b}--\r\n"),
            2 => format!("--{b}\r\n--{b}\r\n--{b}\r\n"),
            3 => "no boundary at all\r\n".to_string(),
            _ => format!("--{b}\r\nContent-Type: multipart/mixed; boundary={b}\r\n\r\n--{b}\r\n"),
        };
        let ct = format!("multipart/mixed; boundary=\"{b}\"");
        corpus.push(plain(
            "c@example.net",
            "boundary",
            &format!("<bnd{i}@x>"),
            &[("Content-Type", &ct)],
            &body,
        ));
    }
    // 3. Wrong or impossible charsets.
    for i in 0..50 {
        let cs = [
            "utf-16",
            "iso-8859-1",
            "x-unknown",
            "utf-8",
            "\"; boundary=x",
            "shift_jis",
        ][i % 6];
        let ct = format!("text/plain; charset={cs}");
        let mut raw = plain(
            "d@example.net",
            "charset",
            &format!("<cs{i}@x>"),
            &[("Content-Type", &ct)],
            "",
        );
        raw.extend(b"Title: caf\xe9 \xff\xfe\xc3\x28 broken utf-8\r\n");
        raw.extend(rng.bytes(20));
        corpus.push(raw);
    }
    // 4. Invalid base64 and quoted-printable bodies.
    for i in 0..100 {
        let cte = if i % 2 == 0 {
            "base64"
        } else {
            "quoted-printable"
        };
        let mut body: String = (0..200)
            .map(|_| (b'!' + (rng.below(90) as u8)) as char)
            .collect();
        body.push_str("===\r\n=ZZ=\r\n");
        corpus.push(plain(
            "e@example.net",
            "encoding",
            &format!("<enc{i}@x>"),
            &[
                ("Content-Type", "text/plain"),
                ("Content-Transfer-Encoding", cte),
            ],
            &body,
        ));
    }
    // 5. NUL bytes in random places.
    for i in 0..100 {
        let mut raw = bases[i % 3].clone();
        for _ in 0..5 {
            let at = rng.below(raw.len());
            raw.insert(at, 0);
        }
        corpus.push(raw);
    }
    // 6. Ten thousand parts.
    let mut many = String::new();
    for _ in 0..10_000 {
        many.push_str("--m\r\nContent-Type: text/plain\r\n\r\nx\r\n");
    }
    many.push_str("--m--\r\n");
    corpus.push(plain(
        "f@example.net",
        "parts",
        "<parts@x>",
        &[("Content-Type", "multipart/mixed; boundary=m")],
        &many,
    ));
    // 7. Fifty levels of nesting.
    let mut nested = String::new();
    for level in 0..50 {
        nested.push_str(&format!(
            "--n{level}\r\nContent-Type: multipart/mixed; boundary=n{}\r\n\r\n",
            level + 1
        ));
    }
    nested.push_str("--n50\r\nContent-Type: text/plain\r\n\r\ndeep\r\n");
    corpus.push(plain(
        "g@example.net",
        "nested",
        "<nested@x>",
        &[("Content-Type", "multipart/mixed; boundary=n0")],
        &nested,
    ));
    // 8. Huge headers.
    let huge = "h".repeat(2 * 1024 * 1024);
    corpus.push(plain("h@example.net", &huge, "<huge@x>", &[], "x"));
    let mut lots = b"From: i@example.net\r\nMessage-ID: <lots@x>\r\n".to_vec();
    for n in 0..20_000 {
        lots.extend(format!("X-H{n}: v\r\n").as_bytes());
    }
    lots.extend(b"\r\nbody\r\n");
    corpus.push(lots);
    // 9. Armor garbage, and real ciphertext with bytes flipped.
    for i in 0..100 {
        let mut body = String::from("-----BEGIN PGP MESSAGE-----\r\n\r\n");
        for _ in 0..10 {
            let line: String = (0..64)
                .map(|_| {
                    let c = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                        [rng.below(64)];
                    c as char
                })
                .collect();
            body.push_str(&line);
            body.push_str("\r\n");
        }
        body.push_str("=AAAA\r\n-----END PGP MESSAGE-----\r\n");
        corpus.push(plain(
            "j@example.net",
            "armor",
            &format!("<armor{i}@x>"),
            &[],
            &body,
        ));
    }
    for i in 0..100 {
        let mut text = armored.clone();
        let start = find(&text, b"\n\n").map_or(40, |p| p + 2);
        for _ in 0..3 {
            let at = start + rng.below(text.len() - start - 30);
            text[at] = b"ABCDabcd0123+/"[rng.below(14)];
        }
        corpus.push(pgp_mime_encrypted(
            &s.headers(&format!("<flip{i}@x>"), "..."),
            &text,
        ));
    }
    // 10. A compression bomb: 50 MB of zeros, encrypted to the gateway.
    let zeros = vec![0u8; 50 * 1024 * 1024];
    let bomb = s.gpg.run(
        &[
            "--armor",
            "--compress-algo",
            "zlib",
            "--compress-level",
            "9",
            "--encrypt",
            "--recipient",
            &s.gateway_fpr,
        ],
        &zeros,
    );
    drop(zeros);
    corpus.push(pgp_mime_encrypted(&s.headers("<bomb@x>", "..."), &bomb));
    // 11. CRLF and header injection in subjects, titles and names; each from its own
    //     sender so that the acknowledgements are sent (and can be checked).
    for i in 0..60 {
        let from = format!("\"Evil\\r\\nBcc: victim{i}@example.com\" <inj{i}@example.net>");
        let subject = [
            "=?utf-8?q?Hi=0D=0ABcc:_victim@example.com?=",
            "Plain\r\n Bcc: folded@example.com",
            "=?utf-8?b?SGVsbG8NCkJjYzogdmljdGltQGV4YW1wbGUuY29t?=",
        ][i % 3];
        let body = format!("Title: X\r\nBcc: victim@example.com\r\nX-Injected: yes {i}\r\n");
        corpus.push(plain(
            &from,
            subject,
            &format!("<inj{i}@x>\r\nBcc: v@example.com"),
            &[],
            &body,
        ));
    }
    // 12. Random bytes.
    for _ in 0..150 {
        let n = 1 + rng.below(4000);
        corpus.push(rng.bytes(n));
    }

    assert!(corpus.len() >= 1000, "{}", corpus.len());
    for raw in &corpus {
        s.gw.deliver(raw);
    }
    let out = s.gw.cli(&["run-once"]);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "run-once failed: {}",
        &log[log.len().saturating_sub(3000)..]
    );

    // Nothing left waiting, and exactly one outcome per message.
    assert_eq!(
        std::fs::read_dir(s.gw.path("inbox/new")).unwrap().count(),
        0
    );
    let reports = s.gw.reports().len();
    let intake = s.gw.quarantine();
    assert_eq!(
        reports + intake.len(),
        corpus.len(),
        "reports {reports}, intake {}",
        intake.len()
    );

    // The limits named in the reasons.
    let reason_of = |msgid: &str| {
        intake
            .iter()
            .find(|r| r["message_id"] == msgid)
            .map(|r| r["reason"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no intake record for {msgid}"))
    };
    assert!(reason_of("parts@x").contains("limits.max_parts"));
    assert!(reason_of("nested@x").contains("limits.max_mime_depth"));
    assert!(
        reason_of("bomb@x").contains("limits.max_decompressed_bytes"),
        "{}",
        reason_of("bomb@x")
    );
    assert!(
        intake.iter().any(|r| r["reason"]
            .as_str()
            .unwrap()
            .contains("limits.max_header_bytes")),
        "huge headers"
    );

    // Memory stayed bounded: the 50 MB bomb was stopped at 8 MiB.
    let peak: u64 = log
        .lines()
        .rev()
        .find_map(|l| l.split("peak_rss_kib=").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("run-once logs its peak memory");
    assert!(peak < 400 * 1024, "peak RSS {peak} KiB");
    eprintln!(
        "hostile corpus: {} messages, peak RSS {peak} KiB",
        corpus.len()
    );

    // No outgoing message carries a header we did not write.
    let sent = s.gw.outbox();
    assert!(
        sent.len() >= 60,
        "acknowledgements for the injection cases: {}",
        sent.len()
    );
    for raw in &sent {
        let text = String::from_utf8_lossy(raw);
        let head = text.split("\r\n\r\n").next().unwrap();
        for line in head.split("\r\n") {
            if line.starts_with(' ') || line.starts_with('\t') {
                continue;
            }
            let name = line.split(':').next().unwrap().to_ascii_lowercase();
            assert!(
                OUR_HEADERS.contains(&name.as_str()),
                "injected header line {line:?} in\n{head}"
            );
        }
        assert!(!head.to_ascii_lowercase().contains("\r\nbcc"), "{head}");
    }
}

#[test]
fn automatic_mail_is_rate_limited_per_sender_and_recorded() {
    let s = Scene::new();
    for n in 0..12 {
        s.gw.deliver(&plain(
            "Flood <flood@example.net>",
            "Report",
            &format!("<flood{n}@example.net>"),
            &[],
            &format!("Title: finding {n}\n"),
        ));
    }
    // Another sender is not affected by the first one's limit.
    s.gw.deliver(&plain(
        "other@example.net",
        "Report",
        "<other@example.net>",
        &[],
        REPORT,
    ));
    s.gw.run_once();

    let reports = s.gw.reports();
    assert_eq!(reports.len(), 13, "every report is stored");
    let sent = s.gw.outbox();
    let to_flood = sent
        .iter()
        .filter(|m| header(m, "To").unwrap() == "flood@example.net")
        .count();
    assert_eq!(to_flood, 10, "rate_limits.per_sender = 10");
    assert_eq!(sent.len(), 11);
    let suppressed: Vec<_> = reports
        .iter()
        .filter(|r| r["status"] == "new")
        .map(|r| {
            s.gw.json(&["reports", "show", r["id"].as_str().unwrap(), "--json"])
        })
        .collect();
    assert_eq!(suppressed.len(), 2);
    for r in suppressed {
        assert!(
            r["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == "acknowledgement_suppressed"),
            "{r}"
        );
    }
}
