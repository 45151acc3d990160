#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Hostile HTTP clients for tests/integration/http_hostile.sh: each mode
# does one bad thing to the daemon at 127.0.0.1:PORT and prints what it saw.
import resource
import socket
import sys
import time

HOST = "127.0.0.1"


def connect(port):
    s = socket.create_connection((HOST, port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def status_line(s):
    """First line of the answer, or 'closed' when the server hung up."""
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    return data.split(b"\r\n")[0].decode("latin-1") if data else "closed"


def send_raw(port, payload):
    s = connect(port)
    try:
        s.sendall(payload)
    except (BrokenPipeError, ConnectionResetError):
        return "closed"
    line = status_line(s)
    s.close()
    return line


def huge_header(port):
    return send_raw(port, b"GET /api/bearmon/v1/status HTTP/1.1\r\nHost: x\r\nX-Big: "
                    + b"a" * (200 * 1024) + b"\r\n\r\n")


def huge_body(port):
    body = b"x" * (3 * 1024 * 1024)
    return send_raw(port, b"POST /api/bearmon/v1/import HTTP/1.1\r\nHost: x\r\n"
                    + b"Content-Length: %d\r\n\r\n" % len(body) + body)


def garbage_request_line(port):
    return send_raw(port, b"\xff\xfe\x00GARBAGE\r\n\r\n")


def slowloris(port, seconds):
    """Send a header byte per second; report when the server hangs up."""
    s = connect(port)
    s.sendall(b"GET /api/bearmon/v1/status HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    t0 = time.time()
    while time.time() - t0 < seconds:
        try:
            s.sendall(b"a")
            s.settimeout(1.0)
            if s.recv(1) == b"":
                return "closed after %.1f s" % (time.time() - t0)
        except socket.timeout:
            continue
        except (BrokenPipeError, ConnectionResetError):
            return "closed after %.1f s" % (time.time() - t0)
    return "still open after %d s" % seconds


def idle(port, n, hold_file):
    """Open n idle connections, touch hold_file, wait until it is removed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # in parallel: a dropped SYN costs a connect a second or more here, and
    # sixty-four of those waits overlap
    import concurrent.futures

    def one(_):
        try:
            return socket.create_connection((HOST, port), timeout=30)
        except OSError as e:
            print("connect failed: %s" % e)
            return None
    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        socks = [s for s in pool.map(one, range(n)) if s is not None]
    open(hold_file, "w").write(str(len(socks)))
    import os
    while os.path.exists(hold_file):
        time.sleep(0.1)
    for s in socks:
        s.close()
    return "opened %d" % len(socks)


if __name__ == "__main__":
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "slowloris":
        print(slowloris(port, int(sys.argv[3])))
    elif mode == "idle":
        print(idle(port, int(sys.argv[3]), sys.argv[4]))
    else:
        print({"huge_header": huge_header, "huge_body": huge_body,
               "garbage": garbage_request_line}[mode](port))
