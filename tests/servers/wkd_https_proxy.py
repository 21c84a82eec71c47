"""A Web Key Directory server for the tests: an HTTP proxy on 127.0.0.1 that takes
CONNECT for any host, answers the TLS handshake itself with the test CA's server
certificate, and serves GET requests from a directory (the tree `disclosured publish`
wrote). GnuPG's dirmngr reaches it through its `http-proxy` option, so the test needs
neither DNS nor port 443.

Usage: wkd_https_proxy.py ROOT CERT KEY LOG. Prints the port it listens on, then
serves until killed. Every request line is appended to LOG.
"""
import os
import socket
import ssl
import sys
import threading

root, cert, key, log = sys.argv[1:5]
root = os.path.realpath(root)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(16)
print(listener.getsockname()[1], flush=True)
lock = threading.Lock()


def note(line):
    with lock, open(log, "a") as f:
        f.write(line + "\n")


def head(f):
    lines = []
    while True:
        line = f.readline(8192)
        if not line or line in (b"\r\n", b"\n"):
            return lines
        lines.append(line.decode("latin-1").rstrip("\r\n"))


def handle(conn):
    conn.settimeout(30)
    try:
        request = head(conn.makefile("rb"))
        if not request or not request[0].startswith("CONNECT "):
            conn.sendall(b"HTTP/1.0 405 CONNECT only\r\n\r\n")
            return
        note(request[0])
        conn.sendall(b"HTTP/1.0 200 Connection established\r\n\r\n")
        tls = ctx.wrap_socket(conn, server_side=True)
        request = head(tls.makefile("rb"))
        if not request:
            return
        note(request[0])
        path = request[0].split(" ")[1].split("?")[0]
        file = os.path.realpath(os.path.join(root, path.lstrip("/")))
        if file.startswith(root + os.sep) and os.path.isfile(file):
            with open(file, "rb") as f:
                body = f.read()
            tls.sendall(
                b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body) + body
            )
        else:
            tls.sendall(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        tls.close()
    except (OSError, ssl.SSLError) as e:
        note("error: %s" % e)
    finally:
        conn.close()


while True:
    c, _ = listener.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
