#!/usr/bin/python3
"""A real SMTP server for the integration tests, built on aiosmtpd.

Listens on 127.0.0.1:PORT with STARTTLS offered, optionally requires AUTH
(PLAIN/LOGIN, only after STARTTLS as aiosmtpd does by default), and saves each
accepted message in OUTDIR as <n>.eml (the DATA bytes exactly as received) with
a sidecar <n>.json holding the envelope. Before answering each DATA it reads
OUTDIR/mode: "accept" (the default, also when the file is missing), "tempfail"
(451) or "permfail" (550), so a test can change the outcome of the next
transaction while the server runs. Prints READY once it is listening and stops
cleanly on SIGTERM or SIGINT.

Run with Debian's /usr/bin/python3 (package python3-aiosmtpd).
"""

import argparse
import json
import logging
import os
import signal
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

REPLIES = {
    "tempfail": "451 4.3.0 try again later",
    "permfail": "550 5.1.1 no such user",
}


class Saver:
    def __init__(self, outdir):
        self.outdir = outdir
        # Numbering continues after a restart on the same directory.
        self.count = sum(1 for name in os.listdir(outdir) if name.endswith(".eml"))
        self.lock = threading.Lock()

    def mode(self):
        try:
            with open(os.path.join(self.outdir, "mode"), encoding="ascii") as f:
                return f.read().strip() or "accept"
        except FileNotFoundError:
            return "accept"

    def write(self, name, data):
        # Written under a temporary name and renamed, so that a reader polling
        # the directory never sees half a file.
        tmp = os.path.join(self.outdir, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, os.path.join(self.outdir, name))

    async def handle_DATA(self, server, session, envelope):
        mode = self.mode()
        if mode in REPLIES:
            return REPLIES[mode]
        if mode != "accept":
            return "451 4.3.5 unknown mode %r in the test server's mode file" % mode
        with self.lock:
            self.count += 1
            n = self.count
        # rcpt_tos first: the Rust side finds it by a plain text search.
        sidecar = {"rcpt_tos": envelope.rcpt_tos, "mail_from": envelope.mail_from}
        self.write("%d.json" % n, json.dumps(sidecar).encode("ascii"))
        self.write("%d.eml" % n, envelope.original_content)
        return "250 2.0.0 OK message %d saved" % n


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", required=True, help="PEM certificate for STARTTLS")
    p.add_argument("--key", required=True, help="PEM private key for STARTTLS")
    p.add_argument("--outdir", required=True)
    p.add_argument("--user", help="require AUTH as this user")
    p.add_argument("--password-file", help="file holding the password for --user")
    p.add_argument("--require-starttls", action="store_true")
    args = p.parse_args()

    # On stderr, which the tests show when something goes wrong.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # aiosmtpd 1.4 warns about its own use of this on every successful AUTH.
    logging.getLogger("mail.log").addFilter(
        lambda record: "login_data is deprecated" not in record.getMessage()
    )

    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(args.cert, args.key)

    params = {"tls_context": tls, "require_starttls": args.require_starttls}
    if args.user is not None:
        with open(args.password_file, "rb") as f:
            password = f.read().rstrip(b"\r\n")
        user = args.user.encode()

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login == user
                and auth_data.password == password
            )
            # handled=False: aiosmtpd then sends the 535 reply itself.
            return AuthResult(success=ok, handled=False)

        params.update(auth_required=True, authenticator=authenticator)

    controller = Controller(
        Saver(args.outdir),
        hostname="127.0.0.1",
        port=args.port,
        # Otherwise aiosmtpd calls socket.getfqdn(), which can hang for
        # seconds on a machine without DNS.
        server_hostname="localhost",
        **params,
    )

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    controller.start()
    print("READY", flush=True)
    while not stop.wait(1):
        pass
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
