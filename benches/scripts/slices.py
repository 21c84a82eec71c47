#!/usr/bin/env python3
# slices.py LOG [N]: ms/report per slice of N "message handled" / "message sent" lines (as the bench's BACKLOG_SLICE).
import sys, datetime
log, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1000
for what, name in (("message handled", "intake"), ("message sent", "sent")):
    ts = []
    for l in open(log, errors="replace"):
        if what in l:
            t = l.split()[0].replace("Z", "+00:00")
            ts.append(datetime.datetime.fromisoformat(t))
    out, frm = [], ts[0] if ts else None
    for i in range(0, len(ts), n):
        ch = ts[i:i+n]
        out.append("%.2f" % ((ch[-1] - frm).total_seconds() * 1000 / len(ch)))
        frm = ch[-1]
    print(f"{name} per slice of {n}, ms/report: {' '.join(out)}")
