#!/usr/bin/env python3
# classify.py: reads `perf script` output (call graphs) on stdin; attributes each sample to the
# first category whose pattern matches a frame, walking from the innermost frame outwards;
# prints the share of samples per category.
import sys, re, collections
CATS = [
    ("nettle Yarrow reseeding (SHA-256)", re.compile(r"yarrow", re.I)),
    ("kernel: sync_file_range (sled's log writes)", re.compile(r"sync_file_range")),
    ("kernel: fsync/fdatasync (files, directories)", re.compile(r"sys_fsync|sys_fdatasync|do_fsync")),
    ("kernel: syncfs (file transport, one per batch)", re.compile(r"syncfs|sync_filesystem")),
    ("sled (store engine)", re.compile(r"sled::")),
    ("cryptography (nettle/gmp/sequoia crypto)", re.compile(r"nettle_|__gmpn|__gmpz|gmp|sequoia_openpgp::crypto|_nettle|curve25519|ecc_|sha256|sha512|aes|eax|ocb")),
    ("OpenPGP packet handling (sequoia, not crypto)", re.compile(r"sequoia_openpgp|buffered_reader")),
    ("MIME parsing (mail_parser)", re.compile(r"mail_parser")),
    ("composing/rendering mail", re.compile(r"outbox::compose|outbox::render|outbox::ack|lettre")),
    ("extraction", re.compile(r"disclosured::extract|regex|aho_corasick")),
    ("JSON / records (serde)", re.compile(r"serde_json|serde::|bincode")),
    ("logging (tracing)", re.compile(r"tracing")),
    ("Maildir / file operations (kernel)", re.compile(r"rename|openat|unlink|__x64_sys_write|__x64_sys_read|vfs_")),
]
# Generic frames: a sample is put here only when no frame above matched.
LAST = [
    ("thread start-up / scheduling / waiting", re.compile(r"__clone|start_thread|thread::Builder|__schedule|futex|finish_task_switch")),
    ("memory allocation / copying", re.compile(r"malloc|_int_free|__libc_free|realloc|memcpy|memmove|page_fault|clear_page")),
]
counts = collections.Counter(); total = 0
frames = []
def flush():
    global total
    if not frames: return
    total += 1
    for cats in (CATS, LAST):
        for f in frames:
            for name, pat in cats:
                if pat.search(f):
                    counts[name] += 1; return
    counts["other: " + (frames[0].split()[1] if len(frames[0].split()) > 1 else "?")[:60]] += 1
for line in sys.stdin:
    if not line.strip():
        flush(); frames = []; continue
    if line.startswith((" ", "\t")):
        frames.append(line.strip())
flush()
for name, c in counts.most_common(25):
    print(f"{100*c/total:5.1f}%  {name}")
print(f"samples: {total}")
