# SPDX-License-Identifier: Apache-2.0
"""bearmon_client: report an AI agent's tasks, custom metrics and
coordination to bearmond over the native agent protocol
(sdk/PROTOCOL.md, version 1), and answer the commands bearmon sends.

Pure Python on Debian's python3-msgpack. Every reporting call only
appends to a bounded in-memory buffer; a background thread owns the
socket. When bearmond is down or slow the buffer fills, the OLDEST frames
are dropped and counted (a monitor wants the latest state when bearmond
comes back), the client reconnects with a bounded exponential backoff and
says hello again. Reporting calls never raise: they return True when the
report was buffered, False when it was refused (invalid argument) or
dropped (buffer full), and count both in stats().

    client = Client("unix:/var/lib/bearmon/agent.sock", "planner-1", type="planner")
    with client.task(type="plan") as t:
        t.tokens_in, t.tokens_out = 812, 164
    client.gauge("agent_quality_accuracy", 0.93)
    client.close()
"""

import collections
import contextlib
import errno
import logging
import os
import random
import re
import select
import socket
import struct
import threading
import time

import msgpack

__all__ = ["Client", "Command", "Task", "PROTOCOL_VERSION"]

PROTOCOL_VERSION = 1
DEFAULT_ADDRESS = "unix:/var/lib/bearmon/agent.sock"
DEFAULT_BUFFER_LIMIT = 1024 * 1024
MIN_BUFFER_LIMIT = 64 * 1024

# message types (PROTOCOL.md, "Messages")
HELLO, WELCOME, TASK, METRIC, COORD, HEARTBEAT, COMMAND, ACK, ERROR, BYE = range(1, 11)
COUNTER, GAUGE = 1, 2
OUTCOMES = ("ok", "error", "timeout", "cancelled")

_MSG_MAX = 64 * 1024  # largest single message; a sealed batch stays under twice this
_IN_FRAME_MAX = 1024 * 1024
_GREET_TIMEOUT = 5.0
_BACKOFF_MIN = 0.1
_DEFAULT_HEARTBEAT = 5.0
_MAX_PENDING_COMMANDS = 64

_AGENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

_log = logging.getLogger("bearmon_client")


class _Invalid(Exception):
    """An argument the protocol cannot carry; the call is refused."""


def _now_ms():
    return time.time_ns() // 1_000_000


def _frame(obj):
    body = msgpack.packb(obj, use_bin_type=True)
    return struct.pack(">I", len(body)) + body


def _check_str(s, what):
    if not isinstance(s, str):
        raise _Invalid("%s must be a str" % what)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as e:
        raise _Invalid("%s is not valid UTF-8: %s" % (what, e)) from None
    if "\0" in s:
        raise _Invalid("%s holds a NUL character" % what)
    return s


def _check_map(m, prom_keys, what):
    if m is None:
        return None
    if not isinstance(m, dict):
        raise _Invalid("%s must be a dict of str to str" % what)
    for k, v in m.items():
        _check_str(k, what + " name")
        _check_str(v, what + " value")
        if prom_keys and not _LABEL_NAME.fullmatch(k):
            raise _Invalid("%s name %r must match [a-zA-Z_][a-zA-Z0-9_]*" % (what, k))
    return dict(m) if m else None


def _check_count(v, what):
    if v is None:
        return 0
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise _Invalid("%s must be an int >= 0" % what)
    return v


def _check_ms(v, what):
    if v is None:
        return 0.0
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0 or v == float("inf"):
        raise _Invalid("%s must be a finite number >= 0" % what)
    return float(v)


def _parse_address(text):
    """(family, sockaddr) for "unix:/path", "unix:@abstract", "/path" or
    "tcp:host:port" ("tcp:[::1]:8126"); a host name is resolved here."""
    if text.startswith("unix:") or text.startswith("/"):
        path = text[5:] if text.startswith("unix:") else text
        if not path:
            raise ValueError("empty unix socket path")
        return socket.AF_UNIX, ("\0" + path[1:] if path.startswith("@") else path)
    if text.startswith("tcp:"):
        host, sep, port = text[4:].rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError("tcp address %r: expected tcp:host:port" % text)
        host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        try:
            info = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            raise ValueError("tcp address %r: %s" % (text, e)) from None
        return info[0][0], info[0][4]
    raise ValueError("address %r: expected unix:/path or tcp:host:port" % text)


class Command:
    """A command from bearmon: id, name, args (dict of str), deadline_ms
    (absolute ms since the epoch, 0 when absent)."""

    __slots__ = ("id", "name", "args", "deadline_ms")

    def __init__(self, id, name, args, deadline_ms):
        self.id, self.name, self.args, self.deadline_ms = id, name, args, deadline_ms

    def __repr__(self):
        return "Command(id=%r, name=%r, args=%r)" % (self.id, self.name, self.args)


class Task:
    """A running task (from task_begin or the task() context manager).
    Set tokens_in, tokens_out, outcome and error_class before it ends."""

    __slots__ = ("type", "task_id", "start_ms", "start_ns", "outcome", "error_class",
                 "tokens_in", "tokens_out", "ended")

    def __init__(self, type=None, task_id=None):
        self.type, self.task_id = type, task_id
        self.start_ms, self.start_ns = _now_ms(), time.monotonic_ns()
        self.outcome, self.error_class = "ok", None
        self.tokens_in = self.tokens_out = 0
        self.ended = False


class _Buffer:
    """The bounded queue of encoded frames plus the open metric batch, and
    what was dropped from them. Not thread-safe: Client holds its lock."""

    def __init__(self, limit):
        self.limit = limit
        self.msg_max = min(_MSG_MAX, limit // 4)
        self.frames = collections.deque()  # (bytes, samples in it)
        self.queued = 0  # bytes in frames
        self.inflight = None  # memoryview of the bytes being written
        self.inflight_frames = []  # the whole frames they hold
        self.inflight_bytes = 0
        self.batch = []  # encoded samples
        self.batch_bytes = 0
        self.batch_since = 0.0
        self.dropped = {"samples": 0, "messages": 0, "bytes": 0}

    def used(self):
        return self.queued + self.inflight_bytes + self.batch_bytes

    def _count_drop(self, size, samples):
        self.dropped["samples" if samples else "messages"] += samples or 1
        self.dropped["bytes"] += size

    def make_room(self, extra):
        """Drop the oldest whole frames until extra more bytes fit."""
        while self.frames and self.used() + extra > self.limit:
            data, samples = self.frames.popleft()
            self.queued -= len(data)
            self._count_drop(len(data), samples)
        return self.used() + extra <= self.limit

    def push(self, frame, samples=0):
        if len(frame) > self.limit or not self.make_room(len(frame)):
            self._count_drop(len(frame), samples)
            return False
        self.frames.append((frame, samples))
        self.queued += len(frame)
        return True

    def add_sample(self, packed):
        if not self.make_room(len(packed) + 11):
            self._count_drop(len(packed), 1)
            return False
        if not self.batch:
            self.batch_since = time.monotonic()
        self.batch.append(packed)
        self.batch_bytes += len(packed)
        if self.batch_bytes >= self.msg_max:
            self.seal()
        return True

    def seal(self):
        """The open batch becomes one `metric` frame: [4, [sample...]],
        the count as array32 like the C client."""
        if not self.batch:
            return
        body = b"\x92\x04\xdd" + struct.pack(">I", len(self.batch)) + b"".join(self.batch)
        n = len(self.batch)
        self.batch, self.batch_bytes = [], 0
        self.push(struct.pack(">I", len(body)) + body, n)

    def next_bytes(self):
        """The bytes to write next (a memoryview), or None. Several frames
        go in one write: the kernel charges each write's buffer overhead
        against the socket's limit, so one small write per frame would fill
        it long before its bytes do."""
        if self.inflight is None and self.frames:
            chunk = []
            while self.frames and (not chunk or self.inflight_bytes + len(self.frames[0][0])
                                   <= self.msg_max):
                f = self.frames.popleft()
                self.queued -= len(f[0])
                self.inflight_bytes += len(f[0])
                self.inflight_frames.append(f)
                chunk.append(f[0])
            self.inflight = memoryview(b"".join(chunk))
        return self.inflight

    def written(self, n):
        """n bytes went out; the number of frames that completed."""
        self.inflight = self.inflight[n:]
        if len(self.inflight):
            return 0
        done = len(self.inflight_frames)
        self.inflight, self.inflight_frames, self.inflight_bytes = None, [], 0
        return done

    def rewind(self):
        """The connection ended: what was partly written goes again, whole."""
        self.frames.extendleft(reversed(self.inflight_frames))
        self.queued += self.inflight_bytes
        self.inflight, self.inflight_frames, self.inflight_bytes = None, [], 0

    def drained(self):
        return not self.frames and self.inflight is None and not self.batch


class Client:
    """A native-protocol client with a background I/O thread.

    address: "unix:/path", "/path" or "tcp:host:port"; None reads
    $BEARMON_AGENT_ADDRESS, else the default socket. agent_id: 1..128
    characters of [A-Za-z0-9_.:-]. labels: added by bearmon to every series
    of the agent. capabilities: command names the agent accepts.
    buffer_limit: bytes held while bearmond is down or slow (at least
    64 KiB). Invalid options raise ValueError here; nothing raises later.
    """

    def __init__(self, address=None, agent_id=None, type=None, version=None, labels=None,
                 capabilities=None, buffer_limit=DEFAULT_BUFFER_LIMIT, flush_interval=0.1,
                 reconnect_max=5.0):
        if not isinstance(agent_id, str) or not _AGENT_ID.fullmatch(agent_id):
            raise ValueError("agent_id %r: 1 to 128 characters of [A-Za-z0-9_.:-]" % (agent_id,))
        if buffer_limit < MIN_BUFFER_LIMIT:
            raise ValueError("buffer_limit %d: at least %d bytes" % (buffer_limit, MIN_BUFFER_LIMIT))
        try:
            hello = {"v": PROTOCOL_VERSION, "agent_id": agent_id, "pid": os.getpid()}
            if type is not None:
                hello["type"] = _check_str(type, "type")
            if version is not None:
                hello["version"] = _check_str(version, "version")
            if labels:
                hello["labels"] = _check_map(labels, True, "label")
            if capabilities:
                hello["capabilities"] = [_check_str(c, "capability") for c in capabilities]
        except _Invalid as e:
            raise ValueError(str(e)) from None
        address = address or os.environ.get("BEARMON_AGENT_ADDRESS") or DEFAULT_ADDRESS
        self._family, self._sockaddr = _parse_address(address)
        self._hello = hello
        self._flush_interval = flush_interval
        self._reconnect_max = max(reconnect_max, _BACKOFF_MIN)
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        self._buf = _Buffer(buffer_limit)
        self._stats = collections.Counter()
        self._last_error = ""
        self._callback = None
        self._commands = collections.deque()
        # connection state, touched by the I/O thread only (stats read it)
        self._sock = None
        self._state = "down"
        self._state_since = 0.0
        self._retry_at = 0.0
        self._backoff = _BACKOFF_MIN
        self._out_hello = b""
        self._inbuf = bytearray()
        self._max_frame = _IN_FRAME_MAX
        self._heartbeat = _DEFAULT_HEARTBEAT
        self._last_write = 0.0
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="bearmon-client", daemon=True)
        self._thread.start()

    # ---- reporting ------------------------------------------------------

    def _refuse(self, why):
        with self._lock:
            self._stats["rejected"] += 1
            first = self._stats["rejected"] == 1
        if first:  # once: a bad call in a loop must not flood the agent's log
            _log.warning("bearmon_client: call refused: %s", why)
        return False

    def _push(self, obj):
        try:
            frame = _frame(obj)
        except (TypeError, ValueError, OverflowError) as e:
            return self._refuse(str(e))
        if len(frame) > self._buf.msg_max:
            return self._refuse("message of %d bytes over %d" % (len(frame), self._buf.msg_max))
        with self._lock:
            ok = self._buf.push(frame)
            self._stats["messages"] += ok
        return ok

    def _sample(self, name, kind, value, labels):
        try:
            if not isinstance(name, str) or not _METRIC_NAME.fullmatch(name):
                raise _Invalid("metric name %r" % (name,))
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _Invalid("value of %s must be a number" % name)
            value = float(value)
            if value != value or value in (float("inf"), float("-inf")):
                raise _Invalid("value of %s is not finite" % name)
            if kind == COUNTER and value < 0:
                raise _Invalid("counter %s: increment %r < 0" % (name, value))
            packed = msgpack.packb([name, kind, value, _check_map(labels, True, "label"),
                                    _now_ms()], use_bin_type=True)
        except (_Invalid, TypeError, ValueError, OverflowError) as e:
            return self._refuse(str(e))
        if len(packed) > self._buf.msg_max:
            return self._refuse("sample of %d bytes" % len(packed))
        with self._lock:
            ok = self._buf.add_sample(packed)
            self._stats["samples"] += ok
        return ok

    def gauge(self, name, value, labels=None):
        """One sample of a gauge (a Prometheus metric name). Quality scores
        are gauges in [0, 1]: agent_quality_accuracy, _reliability,
        _availability, _consistency."""
        return self._sample(name, GAUGE, value, labels)

    def counter(self, name, increment=1, labels=None):
        """Add increment (>= 0) to a counter; bearmon keeps the total, so
        the name should end in _total."""
        return self._sample(name, COUNTER, increment, labels)

    def task_begin(self, type=None, task_id=None):
        """Start timing a task; nothing is sent until task_end."""
        return Task(type, task_id)

    def task_end(self, task, outcome=None, error_class=None, tokens_in=None, tokens_out=None):
        """Report a task begun with task_begin; keyword arguments override
        what was set on the Task. Returns as gauge()."""
        if not isinstance(task, Task) or task.ended:
            return self._refuse("task_end needs a Task from task_begin, ended once")
        task.ended = True
        duration = (time.monotonic_ns() - task.start_ns) / 1e6
        return self._task(task.type, task.task_id, task.start_ms, duration,
                          outcome if outcome is not None else task.outcome,
                          error_class if error_class is not None else task.error_class,
                          tokens_in if tokens_in is not None else task.tokens_in,
                          tokens_out if tokens_out is not None else task.tokens_out)

    def task_done(self, duration_ms, type=None, task_id=None, outcome="ok", error_class=None,
                  tokens_in=0, tokens_out=0):
        """Report a task that ended now after duration_ms."""
        try:
            duration_ms = _check_ms(duration_ms, "duration_ms")
        except _Invalid as e:
            return self._refuse(str(e))
        return self._task(type, task_id, _now_ms() - round(duration_ms), duration_ms, outcome,
                          error_class, tokens_in, tokens_out)

    @contextlib.contextmanager
    def task(self, type=None, task_id=None):
        """Time the with-block as one task. An exception ends it with
        outcome "error" and the exception's class name as error_class (and
        propagates: it is the agent's own)."""
        t = Task(type, task_id)
        try:
            yield t
        except BaseException as e:
            if t.outcome == "ok":
                t.outcome = "cancelled" if isinstance(e, KeyboardInterrupt) else "error"
                t.error_class = t.error_class or e.__class__.__name__
            raise
        finally:
            if not t.ended:
                self.task_end(t)

    def _task(self, type, task_id, start_ms, duration, outcome, error_class, tokens_in,
              tokens_out):
        # start_ms/end_ms place the task in time even when it arrives late
        # (buffered while bearmond was down); duration_ms keeps the precision
        try:
            m = {"start_ms": start_ms, "end_ms": start_ms + round(duration),
                 "duration_ms": duration}
            if outcome not in OUTCOMES:
                raise _Invalid("outcome %r: one of %s" % (outcome, ", ".join(OUTCOMES)))
            m["outcome"] = outcome
            if error_class is not None:
                if outcome == "ok":
                    raise _Invalid("error_class with outcome ok")
                m["error_class"] = _check_str(error_class, "error_class")
            if type is not None:
                m["type"] = _check_str(type, "type")
            if task_id is not None:
                m["task_id"] = _check_str(task_id, "task_id")
            for key, v in (("tokens_in", tokens_in), ("tokens_out", tokens_out)):
                if _check_count(v, key):
                    m[key] = v
        except _Invalid as e:
            return self._refuse(str(e))
        return self._push([TASK, m])

    def coord(self, peer, latency_ms=None, sync_wait_ms=None, messages=None, bytes=None):
        """One coordination exchange with peer (its agent id); values left
        None or 0 are not sent."""
        try:
            if not peer:
                raise _Invalid("coord needs a peer")
            m = {"peer": _check_str(peer, "peer")}
            for key, v in (("latency_ms", _check_ms(latency_ms, "latency_ms")),
                           ("sync_wait_ms", _check_ms(sync_wait_ms, "sync_wait_ms")),
                           ("messages", _check_count(messages, "messages")),
                           ("bytes", _check_count(bytes, "bytes"))):
                if v:
                    m[key] = v
        except _Invalid as e:
            return self._refuse(str(e))
        return self._push([COORD, m])

    # ---- commands -------------------------------------------------------

    def on_command(self, callback):
        """Set the command handler (usable as a decorator); it runs on the
        client's thread as callback(command). It may return a dict (acked
        ok with that result), raise (acked not ok with the exception's
        text), or return None and call ack() itself, now or later. Without
        a handler every command is refused at once."""
        with self._lock:
            self._callback = callback
        return callback

    def ack(self, command_id, ok, detail=None, result=None):
        """Answer a command: ok, a human detail, result (dict of str, e.g.
        the previous value so that bearmon can roll back)."""
        try:
            if not command_id:
                raise _Invalid("ack needs the command's id")
            m = {"id": _check_str(command_id, "id"), "ok": bool(ok)}
            if detail is not None:
                m["detail"] = _check_str(detail, "detail")
            result = _check_map(result, False, "result")
            if result:
                m["result"] = result
        except _Invalid as e:
            return self._refuse(str(e))
        return self._push([ACK, m])

    def _dispatch(self, cmd):
        with self._lock:
            cb = self._callback
        if cb is None:
            self.ack(cmd.id, False, "no command handler")
            return
        try:
            result = cb(cmd)
        except Exception as e:  # the agent's handler failed: tell bearmon
            self.ack(cmd.id, False, "%s: %s" % (e.__class__.__name__, e))
            return
        if isinstance(result, dict):
            self.ack(cmd.id, True, None, {str(k): str(v) for k, v in result.items()})

    # ---- flush, close, stats -------------------------------------------

    def _wake(self):
        try:
            os.write(self._wake_w, b"x")
        except OSError:  # pipe full: the thread is awake anyway
            pass

    def flush(self, timeout=0.0):
        """Seal the metric batch and wait up to timeout seconds until every
        buffered frame is written. True when nothing is left."""
        with self._lock:
            self._buf.seal()
        self._wake()
        deadline = time.monotonic() + timeout
        with self._lock:
            while not self._buf.drained():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._drained.wait(left)
            return self._buf.drained()

    def close(self, timeout=1.0):
        """Flush for up to timeout seconds, say bye, stop the thread."""
        if self._stopping:
            return
        self.flush(timeout)
        self._stopping = True
        self._wake()
        self._thread.join(timeout + 1.0)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def stats(self):
        """Counters since creation, named like the C client's."""
        with self._lock:
            s = {k: self._stats[k] for k in (
                "samples", "messages", "rejected", "frames_sent", "bytes_sent", "connects",
                "connect_failures", "disconnects", "commands", "server_errors")}
            s["samples_dropped"] = self._buf.dropped["samples"]
            s["messages_dropped"] = self._buf.dropped["messages"]
            s["bytes_dropped"] = self._buf.dropped["bytes"]
            s["buffered_bytes"] = self._buf.used()
            s["connected"] = self._state == "ready"
            s["last_error"] = self._last_error
        return s

    # ---- the I/O thread ---------------------------------------------------

    def _run(self):
        while not self._stopping:
            try:
                self._step()
                self._wait()
            except Exception:  # a bug here must not end reporting silently
                _log.exception("bearmon_client: I/O thread error; reconnecting")
                self._lost()
        self._goodbye()

    def _set_state(self, state):
        self._state, self._state_since = state, time.monotonic()

    def _lost(self):
        """The attempt or session ended: close, back off with +-25% jitter."""
        with self._lock:
            self._stats["disconnects" if self._state == "ready" else "connect_failures"] += 1
            self._buf.rewind()
            self._set_state("down")
            self._drained.notify_all()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._inbuf.clear()
        self._retry_at = time.monotonic() + self._backoff * random.uniform(0.75, 1.25)
        self._backoff = min(self._backoff * 2, self._reconnect_max)

    def _connect(self):
        s = socket.socket(self._family, socket.SOCK_STREAM)
        s.setblocking(False)
        if self._family != socket.AF_UNIX:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = s
        self._set_state("connecting")
        rc = s.connect_ex(self._sockaddr)
        if rc == 0:
            self._greet()
        elif rc != errno.EINPROGRESS:  # a unix socket's EAGAIN: backlog full, retry later
            self._lost()

    def _greet(self):
        hello = dict(self._hello, pid=os.getpid())
        self._out_hello = memoryview(_frame([HELLO, hello]))
        self._set_state("greeting")

    def _send(self, data):
        """Bytes written (0: would block); None when the connection is gone."""
        try:
            n = self._sock.send(data, socket.MSG_NOSIGNAL)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError:
            self._lost()
            return None
        self._last_write = time.monotonic()
        with self._lock:
            self._stats["bytes_sent"] += n
        return n

    def _write(self):
        if self._state == "greeting" and self._out_hello:
            n = self._send(self._out_hello)
            if n:
                self._out_hello = self._out_hello[n:]
                if not self._out_hello:
                    with self._lock:
                        self._stats["frames_sent"] += 1
        while self._state == "ready":
            with self._lock:
                data = self._buf.next_bytes()
            if data is None:
                return
            n = self._send(data)
            if not n:
                return
            with self._lock:
                self._stats["frames_sent"] += self._buf.written(n)
                if self._buf.drained():
                    self._drained.notify_all()

    def _read(self):
        for _ in range(16):  # bounded: a command flood cannot starve writing
            try:
                data = self._sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._lost()
                return
            if not data:
                self._lost()
                return
            self._inbuf += data
            if not self._parse():
                return

    def _parse(self):
        """Handle every whole frame; False when the connection was dropped."""
        while len(self._inbuf) >= 4 and self._sock is not None:
            n = struct.unpack_from(">I", self._inbuf)[0]
            if n == 0 or n > _IN_FRAME_MAX:
                self._lost()
                return False
            if len(self._inbuf) < 4 + n:
                break
            body = bytes(self._inbuf[4:4 + n])
            del self._inbuf[:4 + n]
            self._handle(body)
        return self._sock is not None

    def _handle(self, body):
        try:
            msg = msgpack.unpackb(body, raw=False, strict_map_key=False)
        except Exception:  # malformed: ignored, the framing is intact
            return
        if not isinstance(msg, list) or not msg or not isinstance(msg[0], int):
            return
        m = msg[1] if len(msg) > 1 and isinstance(msg[1], dict) else {}
        if msg[0] == WELCOME:
            self._on_welcome(m)
        elif msg[0] == COMMAND:
            self._on_command(m)
        elif msg[0] == ERROR:
            with self._lock:
                self._stats["server_errors"] += 1
                self._last_error = "%s: %s" % (m.get("code", ""), m.get("message", ""))
            if m.get("code") == "replaced":  # another process has our id
                self._backoff = self._reconnect_max

    def _on_welcome(self, m):
        if self._state != "greeting":
            return
        if m.get("v") != PROTOCOL_VERSION:
            with self._lock:
                self._last_error = "version: server speaks protocol %s" % (m.get("v"),)
            self._lost()
            return
        max_frame = m.get("max_frame")
        if isinstance(max_frame, int) and max_frame > 0:
            self._max_frame = max_frame
            with self._lock:
                self._buf.msg_max = min(self._buf.msg_max, max(64, (max_frame - 11) // 2))
        hb = m.get("heartbeat_ms")
        self._heartbeat = hb / 1000.0 if isinstance(hb, int) and hb > 0 else _DEFAULT_HEARTBEAT
        self._backoff = _BACKOFF_MIN
        self._last_write = time.monotonic()
        with self._lock:
            self._stats["connects"] += 1
            self._set_state("ready")

    def _on_command(self, m):
        cid, name, args = m.get("id"), m.get("name"), m.get("args") or {}
        if not isinstance(cid, str) or not isinstance(name, str) or not isinstance(args, dict):
            return
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in args.items()):
            return
        deadline = m.get("deadline_ms") if isinstance(m.get("deadline_ms"), int) else 0
        with self._lock:
            self._stats["commands"] += 1
        if len(self._commands) < _MAX_PENDING_COMMANDS:
            self._commands.append(Command(cid, name, args, deadline))

    def _timers(self):
        """Seal the batch, heartbeat when idle, give up a slow greeting."""
        now = time.monotonic()
        with self._lock:
            if self._buf.batch and now - self._buf.batch_since >= self._flush_interval:
                self._buf.seal()
            idle = self._buf.drained()
        if self._state in ("connecting", "greeting") and now - self._state_since > _GREET_TIMEOUT:
            self._lost()
        elif self._state == "ready" and idle and now - self._last_write >= self._heartbeat / 2:
            with self._lock:
                self._buf.push(_frame([HEARTBEAT]))

    def _step(self):
        if self._state == "down" and time.monotonic() >= self._retry_at:
            self._connect()
        if self._state == "connecting":
            err = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self._lost()
            elif select.select([], [self._sock], [], 0)[1]:
                self._greet()
        if self._state in ("greeting", "ready"):
            self._read()
        self._timers()
        if self._state in ("greeting", "ready"):
            self._write()
        while self._commands:
            self._dispatch(self._commands.popleft())
        if self._state in ("down", "connecting") and self._buf.drained():
            with self._lock:
                self._drained.notify_all()

    def _wait(self):
        rl, wl = [self._wake_r], []
        if self._sock is not None:
            rl.append(self._sock)
            with self._lock:
                pending = bool(self._buf.frames) or self._buf.inflight is not None
            if self._state == "connecting" or (self._state == "greeting" and self._out_hello) \
                    or (self._state == "ready" and pending):
                wl.append(self._sock)
        timeout = self._flush_interval
        if self._state == "down":
            timeout = min(timeout, max(0.0, self._retry_at - time.monotonic()))
        r, _, _ = select.select(rl, wl, [], timeout)
        if self._wake_r in r:
            try:
                os.read(self._wake_r, 4096)
            except BlockingIOError:
                pass

    def _goodbye(self):
        """Write what goes out at once, then bye, and close."""
        if self._state == "ready":
            with self._lock:
                self._buf.seal()
                self._buf.push(_frame([BYE]))
            self._write()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._state = "down"
