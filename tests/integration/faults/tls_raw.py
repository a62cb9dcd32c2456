#!/usr/bin/env python3
"""Send exact bytes to a TLS server on 127.0.0.1 and report what came back (test_abuse.sh).

  tls_raw.py --port P [--cert F --key F] [--send-file F] [--wait S] [--until-close]
  tls_raw.py --port P (--hello-prefix N | --hello-full) [--wait S]

The first form opens TLS (no server verification; optional client certificate chain),
writes the file's bytes, and reads the answer until a complete HTTP response has arrived
(or, with --until-close, until the server closes), at most --wait seconds. The second form
sends only the first N bytes of a real TLS ClientHello (N < 0: all but the last -N bytes;
--hello-full: all of it) over plain TCP and then waits up to --wait seconds for the server
to close (--wait 0: close at once). One JSON object on stdout:
  {"handshake": bool, "error": str|null, "status": int|null, "first_line": str,
   "body_line": str, "body_utf8": bool, "closed_by_server": bool, "elapsed": seconds,
   "received": bytes}
Standard library only.
"""
import argparse
import json
import socket
import ssl
import sys
import time


def client_hello():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_side=False)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def response_complete(buf):
    """True when buf holds a whole HTTP response (headers and Content-Length body)."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    length = 0
    for line in buf[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                return True
    return len(buf) >= end + 4 + length


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--send-file")
    ap.add_argument("--hello-prefix", type=int)
    ap.add_argument("--hello-full", action="store_true")
    ap.add_argument("--wait", type=float, default=5.0)
    ap.add_argument("--until-close", action="store_true")
    a = ap.parse_args()

    r = {"handshake": False, "error": None, "status": None, "first_line": "",
         "body_line": "", "body_utf8": True, "closed_by_server": False, "elapsed": 0.0,
         "received": 0}
    if a.hello_full:
        a.hello_prefix = 1 << 30
    t0 = time.monotonic()
    raw = socket.create_connection(("127.0.0.1", a.port), timeout=a.wait or 1)
    sock = raw
    buf = b""
    try:
        if a.hello_prefix is not None:
            hello = client_hello()
            raw.sendall(hello[:a.hello_prefix])
            if a.wait == 0:
                raw.close()
                print(json.dumps(r))
                return
        else:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            if a.cert:
                ctx.load_cert_chain(a.cert, a.key)
            sock = ctx.wrap_socket(raw)
            r["handshake"] = True
            if a.send_file:
                with open(a.send_file, "rb") as f:
                    sock.sendall(f.read())
        deadline = t0 + a.wait
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = sock.recv(65536)
            except socket.timeout:
                break
            if not data:
                r["closed_by_server"] = True
                break
            buf += data
            if not a.until_close and a.hello_prefix is None and response_complete(buf):
                break
    except (ssl.SSLError, OSError) as e:
        r["error"] = "%s: %s" % (type(e).__name__, e)
        if isinstance(e, (ConnectionResetError, ssl.SSLEOFError, BrokenPipeError)) or \
                "EOF" in str(e) or "reset" in str(e).lower():
            r["closed_by_server"] = True
    r["elapsed"] = round(time.monotonic() - t0, 2)
    r["received"] = len(buf)
    if a.hello_prefix is None and buf.startswith(b"HTTP/"):
        head, _, body = buf.partition(b"\r\n\r\n")
        first = head.split(b"\r\n")[0].decode("latin-1")
        r["first_line"] = first
        try:
            r["status"] = int(first.split()[1])
        except (IndexError, ValueError):
            pass
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            r["body_utf8"] = False
        r["body_line"] = body.split(b"\n")[0].decode("utf-8", "replace")[:200]
    try:
        sock.close()
    except OSError:
        pass
    print(json.dumps(r))


if __name__ == "__main__":
    sys.exit(main())
