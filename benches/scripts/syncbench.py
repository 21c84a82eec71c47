#!/usr/bin/env python3
# syncbench.py ROUNDS: the file transport's two ways of making 1,000 messages of 1.5 KB durable in
# batches of 8, interleaved: "per-file" = write, fsync the file, rename; one directory fsync per batch
# (before); "syncfs" = write all of the batch, one syncfs, rename all, one directory fsync (after).
import os, sys, time, ctypes, tempfile, statistics
libc = ctypes.CDLL("libc.so.6", use_errno=True)
N, B, body = 1000, 8, b"x" * 1500
def run(mode):
    d = tempfile.mkdtemp(dir="/tmp", prefix="syncbench")
    dfd = os.open(d, os.O_RDONLY)
    t = time.perf_counter()
    for b in range(0, N, B):
        names = []
        for i in range(b, min(b + B, N)):
            tmp, dest = f"{d}/.tmp-{i}", f"{d}/{i}.eml"
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            os.write(fd, body)
            if mode == "per-file":
                os.fsync(fd); os.close(fd); os.rename(tmp, dest)
            else:
                os.close(fd); names.append((tmp, dest))
        if mode == "syncfs":
            if libc.syncfs(dfd) != 0: raise OSError(ctypes.get_errno(), "syncfs")
            for tmp, dest in names: os.rename(tmp, dest)
        os.fsync(dfd)
    el = time.perf_counter() - t
    os.close(dfd)
    for f in os.listdir(d): os.unlink(f"{d}/{f}")
    os.rmdir(d)
    return el * 1000 / N
res = {"per-file": [], "syncfs": []}
for r in range(int(sys.argv[1])):
    for m in ("per-file", "syncfs"):
        res[m].append(run(m))
for m, v in res.items():
    print(f"{m}: ms per message, median {statistics.median(v):.3f} (min {min(v):.3f}, max {max(v):.3f}); runs: {' '.join('%.3f' % x for x in v)}")
