"""Appends N reports to an IMAP folder over one TLS connection, printing
"<n> <unix time just before APPEND>" for each, with a pause between them so each
one is measured alone rather than queued behind the previous one."""
import imaplib, ssl, sys, time

port, cafile, user, password_file, count, pause = sys.argv[1:7]
with open(password_file) as f:
    password = f.read().strip()
ctx = ssl.create_default_context(cafile=cafile)
m = imaplib.IMAP4_SSL("127.0.0.1", int(port), ssl_context=ctx, timeout=30)
m.login(user, password)
for n in range(int(count)):
    raw = (
        "From: Bench Reporter <bench@example.net>\r\n"
        "To: security@example.org\r\n"
        f"Subject: Benchmark report {n}\r\n"
        f"Message-ID: <bench-{n}@example.net>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Title: Benchmark finding {n}\r\nVulnerability type: XSS\r\n"
        "Affected versions: 1.0\r\nCVSS: CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N\r\n"
    ).encode()
    t0 = time.time()
    typ, data = m.append("INBOX", None, None, raw)
    assert typ == "OK", data
    print(n, repr(t0), flush=True)
    time.sleep(float(pause))
m.logout()
