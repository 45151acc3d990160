# SPDX-License-Identifier: Apache-2.0
"""bearmon_client against a native-protocol server written in the test: the
shape of every message (sdk/PROTOCOL.md), the hello gate, commands and
acks, the bounded buffer dropping the oldest data and counting it,
reconnecting after the server restarts, and calls that never raise.
Run from sdk/python:  python3 -m unittest discover -s tests
"""

import os
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time
import unittest

import msgpack

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import bearmon_client  # noqa: E402

WAIT = 20.0  # turns a hang into a failure; never a speed assertion
NO_HEARTBEAT = 600000

HELLO_KEYS = {"v": int, "agent_id": str, "type": str, "pid": int, "version": str,
              "labels": dict, "capabilities": list}
TASK_KEYS = {"task_id": str, "type": str, "start_ms": int, "end_ms": int,
             "duration_ms": (int, float), "outcome": str, "error_class": str,
             "tokens_in": int, "tokens_out": int}
COORD_KEYS = {"peer": str, "latency_ms": (int, float), "sync_wait_ms": (int, float),
              "messages": int, "bytes": int}
ACK_KEYS = {"id": str, "ok": bool, "detail": str, "result": dict}


class Server:
    """One connection at a time on a Unix socket in a temporary directory;
    every frame must be exactly one msgpack array starting with a type."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="bmc-py-")
        self.path = os.path.join(self.dir, "agent.sock")
        self.address = "unix:" + self.path
        self.conn = None
        self.buf = b""
        self.accepted = 0
        self.listen()

    def listen(self):
        self.lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.lsock.bind(self.path)
        self.lsock.listen(8)
        self.lsock.settimeout(WAIT)

    def stop(self):
        self.drop()
        self.lsock.close()
        os.unlink(self.path)

    def drop(self):
        if self.conn:
            self.conn.close()
        self.conn, self.buf = None, b""

    def close(self):
        self.stop()
        shutil.rmtree(self.dir)

    def frame(self):
        if self.conn is None:
            self.conn, _ = self.lsock.accept()
            self.conn.settimeout(WAIT)
            self.accepted += 1
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                assert 1 <= n <= 1 << 20
                if len(self.buf) >= 4 + n:
                    body, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    msg = msgpack.unpackb(body, raw=False)  # exactly one object or it raises
                    assert isinstance(msg, list) and 1 <= len(msg) <= 2 and isinstance(msg[0], int)
                    return msg
            data = self.conn.recv(65536)
            if not data:
                raise EOFError("client closed")
            self.buf += data

    def expect(self, mtype):
        msg = self.frame()
        assert msg[0] == mtype, "expected type %d, got %r" % (mtype, msg)
        return msg

    def send(self, *msg):
        body = msgpack.packb(list(msg), use_bin_type=True)
        self.conn.sendall(struct.pack(">I", len(body)) + body)

    def welcome(self, v=1, max_frame=1 << 20, heartbeat_ms=NO_HEARTBEAT):
        self.send(2, {"v": v, "server": "test 1", "max_frame": max_frame,
                      "heartbeat_ms": heartbeat_ms})


def check_map(test, m, keys, required=()):
    test.assertIsInstance(m, dict)
    for k, v in m.items():
        test.assertIn(k, keys, "unexpected key %r" % k)
        test.assertIsInstance(v, keys[k], "key %r" % k)
        if keys[k] is int:  # bool is an int in Python, not in msgpack
            test.assertNotIsInstance(v, bool, "key %r" % k)
    for k in required:
        test.assertIn(k, m)


def wait_until(pred):
    deadline = time.monotonic() + WAIT
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met within %.0f s" % WAIT)
        time.sleep(0.005)


class ClientTest(unittest.TestCase):
    def setUp(self):
        self.srv = Server()
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close(0)
        self.srv.close()

    def client(self, **kw):
        opts = dict(agent_id="py-agent.1", type="tester", version="0.9.1",
                    labels={"team": "search"}, capabilities=["set_batch_size"],
                    flush_interval=0.01, reconnect_max=0.2)
        opts.update(kw)
        c = bearmon_client.Client(self.srv.address, **opts)
        self.clients.append(c)
        return c

    def handshake(self, c, **welcome):
        hello = self.srv.expect(1)
        check_map(self, hello[1], HELLO_KEYS, ("v", "agent_id"))
        self.srv.welcome(**welcome)
        wait_until(lambda: c.stats()["connected"])
        return hello[1]

    def test_hello_first_then_data_after_welcome(self):
        c = self.client()
        self.assertTrue(c.task_done(3))
        self.assertTrue(c.gauge("queue_depth", 4))
        hello = self.srv.expect(1)[1]
        check_map(self, hello, HELLO_KEYS)
        self.assertEqual(hello, {"v": 1, "agent_id": "py-agent.1", "type": "tester",
                                 "pid": os.getpid(), "version": "0.9.1",
                                 "labels": {"team": "search"},
                                 "capabilities": ["set_batch_size"]})
        # nothing but the hello before the welcome
        self.srv.conn.settimeout(0.2)
        with self.assertRaises(socket.timeout):
            self.srv.frame()
        self.srv.conn.settimeout(WAIT)
        self.assertFalse(c.stats()["connected"])
        self.srv.welcome()
        self.srv.expect(3)
        self.srv.expect(4)
        self.assertEqual(c.stats()["connects"], 1)

    def test_task_shape(self):
        c = self.client()
        self.handshake(c)
        t0 = int(time.time() * 1000)
        with c.task(type="answer", task_id="t-1") as t:
            t.tokens_in, t.tokens_out = 10, 0
        with self.assertRaises(ZeroDivisionError):  # the agent's own exception
            with c.task(type="plan"):
                1 / 0
        t = c.task_begin(type="answer")
        self.assertTrue(c.task_end(t, outcome="timeout", error_class="rate_limited"))
        self.assertTrue(c.task_done(12.5))

        m = self.srv.expect(3)[1]
        check_map(self, m, TASK_KEYS, ("start_ms", "end_ms", "duration_ms", "outcome"))
        self.assertEqual((m["task_id"], m["type"], m["outcome"], m["tokens_in"]),
                         ("t-1", "answer", "ok", 10))
        self.assertNotIn("tokens_out", m)
        self.assertGreaterEqual(m["start_ms"], t0)
        self.assertGreaterEqual(m["end_ms"], m["start_ms"])
        m = self.srv.expect(3)[1]
        check_map(self, m, TASK_KEYS)
        self.assertEqual((m["outcome"], m["error_class"]), ("error", "ZeroDivisionError"))
        m = self.srv.expect(3)[1]
        self.assertEqual((m["outcome"], m["error_class"]), ("timeout", "rate_limited"))
        m = self.srv.expect(3)[1]
        check_map(self, m, TASK_KEYS)
        self.assertEqual(m["duration_ms"], 12.5)
        self.assertEqual(m["end_ms"] - m["start_ms"], 12)  # Python rounds half to even
        self.assertNotIn("task_id", m)

        self.assertFalse(c.task_end(t))  # ended already
        self.assertFalse(c.task_done(1, error_class="x"))
        self.assertFalse(c.task_done(1, tokens_in=-1))
        self.assertFalse(c.task_done(1, outcome="maybe"))
        self.assertFalse(c.task_done(-1))
        self.assertFalse(c.task_done(float("nan")))
        self.assertFalse(c.task_done(1, type="\udcff"))
        self.assertEqual(c.stats()["rejected"], 7)
        self.assertEqual(c.stats()["messages"], 4)

    def test_metric_batch_shape(self):
        c = self.client()
        self.handshake(c)
        t0 = int(time.time() * 1000)
        self.assertTrue(c.gauge("agent_quality_accuracy", 0.93))
        self.assertTrue(c.counter("agent_tool_calls_total", 2, {"tool": "search"}))
        self.assertTrue(c.gauge("agent_quality_accuracy", 0.95))
        self.assertTrue(c.flush(WAIT))
        samples = self.srv.expect(4)[1]  # one message for the batch
        self.assertEqual([s[:4] for s in samples],
                         [["agent_quality_accuracy", 2, 0.93, None],
                          ["agent_tool_calls_total", 1, 2.0, {"tool": "search"}],
                          ["agent_quality_accuracy", 2, 0.95, None]])
        for s in samples:
            self.assertEqual(len(s), 5)
            self.assertIsInstance(s[2], float)
            self.assertTrue(t0 <= s[4] <= int(time.time() * 1000))
        for bad in (lambda: c.gauge("1st", 1), lambda: c.gauge("bad-name", 1),
                    lambda: c.gauge("ok", float("nan")), lambda: c.counter("ok_total", -1),
                    lambda: c.gauge("ok", 1, {"bad-key": "v"}), lambda: c.gauge("ok", "1"),
                    lambda: c.gauge(None, 1), lambda: c.gauge("ok", 1, {"k": 3})):
            self.assertFalse(bad())
        self.assertEqual(c.stats()["rejected"], 8)
        self.assertEqual(c.stats()["samples"], 3)

    def test_coord_shape(self):
        c = self.client()
        self.handshake(c)
        self.assertTrue(c.coord("retriever-2", latency_ms=4.25, sync_wait_ms=1.5, messages=3,
                                bytes=2048))
        self.assertTrue(c.coord("planner"))
        self.assertFalse(c.coord(None))
        self.assertFalse(c.coord("p", bytes=-1))
        m = self.srv.expect(5)[1]
        check_map(self, m, COORD_KEYS, ("peer",))
        self.assertEqual(m, {"peer": "retriever-2", "latency_ms": 4.25, "sync_wait_ms": 1.5,
                             "messages": 3, "bytes": 2048})
        self.assertEqual(self.srv.expect(5)[1], {"peer": "planner"})

    def test_heartbeat_when_idle(self):
        c = self.client()
        self.handshake(c, heartbeat_ms=40)
        self.assertEqual(self.srv.expect(6), [6])
        self.assertEqual(self.srv.expect(6), [6])

    def test_commands_and_acks(self):
        c = self.client()
        seen = []

        @c.on_command
        def handle(cmd):
            seen.append((cmd.id, cmd.name, cmd.args, cmd.deadline_ms,
                         threading.current_thread() is threading.main_thread()))
            if cmd.args.get("value") == "bad":
                raise ValueError("not a number")
            return {"previous": "8"}

        self.handshake(c)
        self.srv.send(7, {"id": "cmd-1", "name": "set_batch_size", "args": {"value": "16"},
                          "deadline_ms": 1700000000000})
        ack = self.srv.expect(8)[1]
        check_map(self, ack, ACK_KEYS, ("id", "ok"))
        self.assertEqual(ack, {"id": "cmd-1", "ok": True, "result": {"previous": "8"}})
        self.assertEqual(seen, [("cmd-1", "set_batch_size", {"value": "16"}, 1700000000000,
                                 False)])
        self.srv.send(7, {"id": "cmd-2", "name": "set_batch_size", "args": {"value": "bad"}})
        ack = self.srv.expect(8)[1]
        self.assertEqual(ack, {"id": "cmd-2", "ok": False, "detail": "ValueError: not a number"})
        self.srv.send(7, {"name": "no id"})  # ignored, the session goes on
        c.on_command(None)
        self.srv.send(7, {"id": "cmd-3", "name": "evict_cache"})
        self.assertEqual(self.srv.expect(8)[1],
                         {"id": "cmd-3", "ok": False, "detail": "no command handler"})
        self.assertEqual(c.stats()["commands"], 3)
        self.assertTrue(c.ack("cmd-4", True, "later", {"k": "v"}))
        self.assertEqual(self.srv.expect(8)[1],
                         {"id": "cmd-4", "ok": True, "detail": "later", "result": {"k": "v"}})
        self.assertFalse(c.ack("", True))

    def test_full_buffer_drops_oldest_tasks(self):
        n = 3000
        self.srv.stop()
        c = self.client(buffer_limit=bearmon_client.MIN_BUFFER_LIMIT)
        for i in range(n):
            self.assertTrue(c.task_done(1, task_id="t-%d" % i))  # never raises, never blocks
        st = c.stats()
        self.assertEqual(st["messages"], n)
        self.assertGreater(st["messages_dropped"], 0)
        self.assertLessEqual(st["buffered_bytes"], bearmon_client.MIN_BUFFER_LIMIT)
        self.srv.listen()
        self.handshake(c)
        self.assertTrue(c.flush(WAIT))
        ids = [int(self.srv.expect(3)[1]["task_id"][2:]) for _ in range(n - st["messages_dropped"])]
        self.assertEqual(ids, list(range(st["messages_dropped"], n)))  # the newest, in order

    def test_full_buffer_drops_oldest_samples(self):
        n = 20000
        self.srv.stop()
        c = self.client(buffer_limit=bearmon_client.MIN_BUFFER_LIMIT)
        for i in range(n):
            self.assertTrue(c.gauge("agent_queue_depth", i))
        st = c.stats()
        self.assertGreater(st["samples_dropped"], 0)
        self.srv.listen()
        self.handshake(c)
        self.assertTrue(c.flush(WAIT))
        values = []
        while len(values) + st["samples_dropped"] < n:
            values += [int(s[2]) for s in self.srv.expect(4)[1]]
        self.assertEqual(values, list(range(st["samples_dropped"], n)))

    def test_reconnect_after_server_restart(self):
        c = self.client()
        self.handshake(c)
        c.task_done(1, task_id="t-1")
        self.assertEqual(self.srv.expect(3)[1]["task_id"], "t-1")
        self.srv.stop()
        wait_until(lambda: not c.stats()["connected"])
        self.assertTrue(c.task_done(1, task_id="t-2"))
        self.srv.listen()
        self.handshake(c)  # a new hello
        self.assertEqual(self.srv.expect(3)[1]["task_id"], "t-2")
        st = c.stats()
        self.assertEqual((st["connects"], st["disconnects"], self.srv.accepted), (2, 1, 2))

    def test_server_error_and_version(self):
        c = self.client()
        self.handshake(c)
        self.srv.send(9, {"code": "replaced", "message": "a newer connection took this id"})
        self.srv.drop()
        wait_until(lambda: c.stats()["server_errors"] == 1 and not c.stats()["connected"])
        self.assertEqual(c.stats()["last_error"], "replaced: a newer connection took this id")
        self.srv.expect(1)
        self.srv.welcome(v=2)
        wait_until(lambda: "version" in c.stats()["last_error"])
        self.assertEqual(c.stats()["last_error"], "version: server speaks protocol 2")
        self.assertEqual(c.stats()["connects"], 1)

    def test_close_says_bye(self):
        c = self.client()
        self.handshake(c)
        c.gauge("agent_quality_reliability", 0.99)
        c.close(WAIT)
        self.srv.expect(4)
        self.assertEqual(self.srv.expect(10), [10])

    def test_invalid_options_raise_only_in_the_constructor(self):
        for kw in ({"agent_id": "has space"}, {"agent_id": None},
                   {"labels": {"bad-key": "v"}}, {"buffer_limit": 1000}):
            with self.assertRaises(ValueError):
                self.client(**kw)
        for address in ("ftp:x", "tcp:nohostport", "unix:"):
            with self.assertRaises(ValueError):
                bearmon_client.Client(address, "a")
        c = bearmon_client.Client("tcp:127.0.0.1:1", "a", reconnect_max=0.2)
        self.clients.append(c)
        self.assertTrue(c.gauge("up", 1))  # nothing listens: buffered, no exception
        self.assertFalse(c.flush(0.05))


if __name__ == "__main__":
    unittest.main()
