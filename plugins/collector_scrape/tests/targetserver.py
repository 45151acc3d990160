# SPDX-License-Identifier: Apache-2.0
# Scrape targets for tests/integration/scrape.sh: one small HTTP server
# whose paths behave well (text 0.0.4, OpenMetrics, gzip, auth) or badly
# (garbage, hang, 100 MB, 500, closed connection, too many series).
# Usage: targetserver.py PORT [CERT KEY]   (with CERT and KEY: https)
import gzip
import http.server
import socketserver
import ssl
import sys
import time

STATE = {"drop": False}

GOOD = """# HELP test_requests_total Requests served.
# TYPE test_requests_total counter
test_requests_total{code="200"} 1027
test_requests_total{code="500"} 3
# HELP test_temperature_celsius A gauge.
# TYPE test_temperature_celsius gauge
test_temperature_celsius 21.5
# TYPE test_latency_seconds histogram
test_latency_seconds_bucket{le="0.1"} 5
test_latency_seconds_bucket{le="+Inf"} 7
test_latency_seconds_sum 1.5
test_latency_seconds_count 7
test_untyped_thing{job="exposed",instance="exp:1"} 42
"""

OPENMETRICS = """# TYPE om_tokens counter
# UNIT om_tokens tokens
# HELP om_tokens Tokens generated.
om_tokens_total{model="m"} 12345 # {trace_id="abc"} 1 1700000000.5
om_tokens_created{model="m"} 1700000000.0
# TYPE om_build info
om_build_info{version="1.2"} 1
# TYPE om_queue gauge
om_queue 4 1700000000.250
# EOF
"""


def many(n, long_value=False):
    lines = ["# TYPE test_many gauge"]
    for i in range(n):
        lines.append('test_many{i="%d"} %d' % (i, i))
    if long_value:
        lines.append('test_long{v="%s"} 1' % ("x" * 300))
    return "\n".join(lines) + "\n"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, body, ctype="text/plain; version=0.0.4", status=200, headers=()):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def good(self):
        body = GOOD
        if STATE["drop"]:
            body = body.replace('test_requests_total{code="500"} 3\n', "")
        return body

    def do_GET(self):
        path = self.path.split("?")[0]
        try:
            getattr(self, "route_" + path.strip("/").replace("/", "_") or "root")()
        except AttributeError:
            self.send("not found\n", status=404)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def route_metrics(self):
        self.send(self.good())

    def route_om(self):
        if "application/openmetrics-text" in self.headers.get("Accept", ""):
            self.send(OPENMETRICS, "application/openmetrics-text; version=1.0.0; charset=utf-8")
        else:
            self.send("om_not_negotiated 1\n")

    def route_gzip(self):
        if "gzip" not in self.headers.get("Accept-Encoding", ""):
            self.send("gzip_not_negotiated 1\n")
            return
        self.send(gzip.compress(self.good().encode()), headers=[("Content-Encoding", "gzip")])

    def route_garbage(self):
        self.send(b"<html>\x00\xff\xfe not { metrics\n" * 20, "text/html")

    def route_hang(self):
        time.sleep(30)

    def route_huge(self):
        # 100 MB without a Content-Length: only the body size limit stops it
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Connection", "close")
        self.end_headers()
        chunk = b"test_huge_filler 1\n" * 55189  # about 1 MB
        for _ in range(100):
            self.wfile.write(chunk)
        self.close_connection = True

    def route_500(self):
        self.send("internal error\n", status=500)

    def route_close(self):
        self.close_connection = True
        self.connection.shutdown(2)

    def route_auth(self):
        # "scraper:s3cret" in base64
        if self.headers.get("Authorization") == "Basic c2NyYXBlcjpzM2NyZXQ=":
            self.send("auth_ok 1\n")
        else:
            self.send("denied\n", status=401, headers=[("WWW-Authenticate", 'Basic realm="t"')])

    def route_bearer(self):
        if self.headers.get("Authorization") == "Bearer tok-123":
            self.send("bearer_ok 1\n")
        else:
            self.send("denied\n", status=401)

    def route_many(self):
        self.send(many(200))

    def route_long(self):
        self.send(many(3, long_value=True))

    def route_dup(self):
        self.send("test_dup 1\ntest_dup 2\ntest_dup_other 3\n")

    def route_ctl_drop(self):
        STATE["drop"] = not STATE["drop"]
        self.send("drop=%s\n" % STATE["drop"])


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == "__main__":
    server = Server(("127.0.0.1", int(sys.argv[1])), Handler)
    if len(sys.argv) == 4:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[2], sys.argv[3])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.serve_forever()
