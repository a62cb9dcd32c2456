#!/usr/bin/env python3
"""Hold many slow connections to a TLS server on 127.0.0.1 (test_slow_clients.sh).

Three kinds of connection, opened one after the other:
  silent  TCP connected, sends nothing
  hello   sends a real TLS ClientHello a few bytes at a time (never completes it)
  http    completes the TLS handshake (no client certificate), then sends an HTTP
          request a few bytes at a time (never completes it)

Every connection is watched for the server closing it. When all are open, the number
that are established is written to --ready. After --hold seconds (or SIGTERM) everything
is closed and one JSON object is written to --out:
  {"kind": {"opened": N, "established": N, "closed_by_server": N,
            "close_after": [min, median, max] seconds or null, "bytes_sent": N}, ...}
Standard library only; loopback only.
"""
import argparse
import errno
import json
import os
import resource
import selectors
import signal
import socket
import ssl
import sys
import time

stop = False


def on_term(signum, frame):
    global stop
    stop = True


def client_hello():
    """The bytes of a real TLS 1.3 ClientHello, from an in-memory handshake."""
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


class Conn:
    def __init__(self, kind, sock, payload):
        self.kind = kind
        self.sock = sock
        self.payload = payload
        self.sent = 0
        self.opened = time.monotonic()
        self.closed = None
        self.established = False
        self.handshaking = kind == "http"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--silent", type=int, default=0)
    ap.add_argument("--hello", type=int, default=0)
    ap.add_argument("--http", type=int, default=0)
    ap.add_argument("--rate", type=float, default=2.0, help="bytes per second per trickler")
    ap.add_argument("--hold", type=float, default=10.0)
    ap.add_argument("--connect-timeout", type=float, default=10.0,
                    help="give up opening the rest after this long")
    ap.add_argument("--ready", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    total = a.silent + a.hello + a.http
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = total + 64
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            sys.exit("hold_conns: RLIMIT_NOFILE hard limit %d < %d" % (hard, want))
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    hello = client_hello()
    request = (b"GET /.well-known/est/cacerts HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
               b"".join(b"X-Slow-%d: %s\r\n" % (i, b"a" * 40) for i in range(200)))
    tctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    tctx.check_hostname = False
    tctx.verify_mode = ssl.CERT_NONE

    sel = selectors.DefaultSelector()
    conns = []
    kinds = ["silent"] * a.silent + ["hello"] * a.hello + ["http"] * a.http
    t0 = time.monotonic()
    for kind in kinds:
        if stop or time.monotonic() - t0 > a.connect_timeout:
            break
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", a.port))
        except OSError:
            s.close()
            c = Conn(kind, None, b"")
            c.closed = 0.0
            conns.append(c)
            continue
        s.setblocking(False)
        if kind == "http":
            s = tctx.wrap_socket(s, do_handshake_on_connect=False)
        c = Conn(kind, s, hello if kind == "hello" else request if kind == "http" else b"")
        c.established = kind != "http"
        conns.append(c)
        sel.register(s, selectors.EVENT_READ, c)

    def close(c, now):
        if c.closed is None:
            c.closed = now - c.opened
            try:
                sel.unregister(c.sock)
            except (KeyError, ValueError):
                pass
            c.sock.close()

    def handshake(c, now):
        try:
            c.sock.do_handshake()
            c.handshaking = False
            c.established = True
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
        except (ssl.SSLError, OSError):
            close(c, now)

    ready_written = False
    start = time.monotonic()
    last_tick = 0.0
    while not stop:
        now = time.monotonic()
        for c in conns:
            if c.closed is None and c.handshaking:
                handshake(c, now)
        pending = [c for c in conns if c.closed is None and c.handshaking]
        if not ready_written and (not pending or now - start > a.connect_timeout):
            with open(a.ready + ".tmp", "w") as f:
                f.write("%d\n" % sum(1 for c in conns if c.closed is None and c.established))
            os.rename(a.ready + ".tmp", a.ready)
            ready_written = True
            hold_from = now
        if ready_written and now - hold_from >= a.hold:
            break
        for key, _ in sel.select(timeout=0.05):
            c = key.data
            if c.handshaking:
                continue
            try:
                data = c.sock.recv(4096)
                if not data:
                    close(c, time.monotonic())
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                pass
            except (ssl.SSLError, OSError):
                close(c, time.monotonic())
        # Trickle: every 0.5 s each trickler sends rate/2 bytes (at least one).
        if now - last_tick >= 0.5:
            last_tick = now
            n = max(1, int(a.rate / 2))
            for c in conns:
                if c.closed is not None or not c.established or not c.payload:
                    continue
                chunk = c.payload[c.sent:c.sent + n]
                if not chunk:
                    continue
                try:
                    c.sent += c.sock.send(chunk)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    pass
                except (ssl.SSLError, OSError) as e:
                    if getattr(e, "errno", None) not in (errno.EAGAIN,):
                        close(c, time.monotonic())

    result = {}
    for kind in ("silent", "hello", "http"):
        cs = [c for c in conns if c.kind == kind]
        if not cs and not getattr(a, kind):
            continue
        times = sorted(c.closed for c in cs if c.closed is not None)
        result[kind] = {
            "opened": sum(1 for c in cs if c.sock is not None),
            "established": sum(1 for c in cs if c.established),
            "closed_by_server": len(times),
            "close_after": [round(times[0], 2), round(times[len(times) // 2], 2),
                            round(times[-1], 2)] if times else None,
            "bytes_sent": sum(c.sent for c in cs),
        }
    for c in conns:
        if c.closed is None:
            c.sock.close()
    with open(a.out + ".tmp", "w") as f:
        json.dump(result, f)
        f.write("\n")
    os.rename(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
