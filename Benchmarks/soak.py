#!/usr/bin/env python3
"""Soak test of `spool echo` (issue 20, "A soak"): one server, for --minutes (10), under all of
these at once, every client on loopback only:

1. churn: --churn-threads (2) threads start connections at a steady --churn-rate (100 per
   second, all threads together, at most --churn-concurrency (32) open at once); each sends a
   random payload of 1 B to --max-payload (64 KiB) random bytes, reads the echo back comparing
   every byte with what it sent, then half-closes (SHUT_WR) and expects the server's EOF with
   no byte more. A --abort-fraction (5 %) of them instead reset the connection (SO_LINGER 0)
   part-way through their send: the server's error paths, while it is echoing;
2. idle: --idle connections (2,000, at most the descriptor budget below) opened at the start,
   each checked with one small echo when it opens, held for the whole run, and each checked
   again with one small echo at the end;
3. hostile: --hostile peers (4) that send continuously (at most --hostile-rate MiB/s each) and
   never read, so the server's echo backs up and its flow control must hold them; each is reset
   (SO_LINGER 0, with the server's writes to it still queued) and reopened every
   --hostile-lifetime seconds (30), and reopened if the server drops it;
4. descriptor exhaustion: the server starts with its soft RLIMIT_NOFILE at --fd-limit (1,024;
   0: not lowered). Idle connections then stop at a budget, fd-limit - baseline - hostile -
   --headroom, so that --headroom (16) descriptors stay for churn and the bursts:
5. bursts: every --flood-every seconds (5), --flood (32) connections at once, more than the
   headroom, each checked with one small echo and held until --flood-hold (1) seconds after
   the burst began, then closed. Those beyond the limit wait in the server's backlog while its
   accepts fail with EMFILE and back off (logged by Spool: "accept on ... failed with ...
   (errno 24); pausing accepts"); each must be served once the first ones close. (Churn alone
   does not reach the limit: its connections last milliseconds, so few are open at once; and
   were idle allowed to take every descriptor, no server could serve churn.) A churn client
   that cannot connect, or gets no echo before --timeout (10 s) (it waited in the backlog),
   counts as refused/timed out, not as an error, and the clients keep trying.

Every --interval seconds (60) it records the server's RSS (/proc/PID/status VmRSS, RssAnon,
RssFile), open descriptors (/proc/PID/fd), threads, CPU, the churn clients' echo throughput and
outcomes, the bursts' longest wait, the server's accept back-off episodes (from its log), and
this script's own CPU (it should stay far below one core: the machine is shared); the
server is polled twice a second (a server that exits ends the run at once, with its exit status
and last output). At the end it stops churn and the bursts, checks every idle connection with one echo, closes
idle and hostile clients, waits until the server's descriptors are back at the baseline measured
right after its start (up to --settle seconds), sends SIGTERM and expects exit status 0.

Verdict (exit status 1 if any fails; 2 if the server could not be started at all):
  - the server stayed alive until the SIGTERM;
  - RSS (VmRSS) grew at most --rss-growth (10 %) from the first sample at 60 s (or, in a run
    shorter than 2 minutes, the first sample at half the run) to the last sample under load;
  - descriptors back at the baseline, within --fd-tolerance (4);
  - every byte echoed was compared with the byte sent, and none differed (churn, idle and
    bursts; an echo longer than what was sent counts as a mismatch);
  - churn connections succeeded in every interval;
  - no churn connection the server had begun to echo was dropped, stalled mid-echo (no byte
    for --timeout), or left open after the client's half-close;
  - every idle connection held stayed open and echoed at the end;
  - every burst connection was served within --timeout, and none was dropped;
  - with --fd-limit: the server backed off its accepts on EMFILE, in every interval;
  - the server exited 0 on SIGTERM.

--backend io_uring|portable|automatic sets SPOOL_BACKEND for the server (default: left as in
the environment, which means automatic). --json FILE writes the options, every per-interval
sample, the totals, the checks and the tail of the server's output.

Usage (from Benchmarks/, after `swift build -c release --product spool` at the package root):
  python3 soak.py [--binary ../.build/release/spool] [--minutes 10] [--backend portable]
                  [--fd-limit 0] [--interval 60] [--json FILE]
A soak's options are all in --help; the checks' thresholds are --rss-growth, --fd-tolerance,
--timeout and --settle.
Standard library only; it compiles nothing."""
import argparse, collections, datetime, errno, ipaddress, json, os, random, re, resource, selectors, signal, socket
import struct, subprocess, sys, threading, time

here = os.path.dirname(os.path.abspath(__file__))
now = time.monotonic
LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close sends a RST


def reset_close(sock):
    """Closes `sock` with a RST (whatever is queued either way is dropped)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
    except OSError:
        pass
    sock.close()


class Server:
    """The `spool echo` process: started under the descriptor limit, its output drained by a
    thread (kept: the last lines; accept back-off episodes counted by errno; other lines that
    look like warnings or errors)."""

    BACKOFF = re.compile(r"accept on \S+ failed with .*\(errno (\d+)\); pausing accepts")
    RESUMED = re.compile(r"accepts on \S+ resumed after (\d+) failed")
    LEVEL = re.compile(r"^\S+ (trace|debug|info|notice|warning|error|critical) ")

    def __init__(self, cmd, env, fd_limit):
        self.cmd = cmd
        self.lines = collections.deque(maxlen=200)
        self.notable = collections.deque(maxlen=50)
        self.notable_count = collections.Counter()
        self.levels = collections.Counter()
        self.backoffs = collections.Counter()  # errno -> episodes begun
        self.backoff_total = 0
        self.first_backoff = None
        self.resumed = 0
        self.listening = threading.Event()
        self.address = None
        self.exited_at = None

        def limit():
            if fd_limit:
                hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
                resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, hard))
        # preexec_fn runs before any of this script's threads exist.
        self.p = subprocess.Popen(cmd, env=env, preexec_fn=limit, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        self.pid = self.p.pid
        threading.Thread(target=self._drain, daemon=True, name="server-output").start()

    def _drain(self):
        for line in self.p.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            level = self.LEVEL.match(line)
            if level:
                self.levels[level.group(1)] += 1
            m = re.search(r"listening on (\S+):(\d+)", line)
            if m and not self.listening.is_set():
                self.address = (m.group(1).strip("[]"), int(m.group(2)))
                self.listening.set()
                continue
            b = self.BACKOFF.search(line)
            if b:
                self.backoffs[int(b.group(1))] += 1
                self.backoff_total += 1
                if self.first_backoff is None:
                    self.first_backoff = line
                continue
            if self.RESUMED.search(line):
                self.resumed += 1
                continue
            if re.search(r"warning|error|fail|stall|too many|fatal|crash|critical", line, re.I):
                self.notable.append(line)
                key = re.sub(r"\d+", "N", line)[:160]
                self.notable_count[key] += 1

    def alive(self):
        if self.p.poll() is None:
            return True
        if self.exited_at is None:
            self.exited_at = now()
        return False

    def _read(self, name):
        with open(f"/proc/{self.pid}/{name}") as f:
            return f.read()

    def status(self):
        """VmRSS, RssAnon, RssFile (KiB) and Threads; {} if it cannot be read."""
        try:
            text = self._read("status")
        except OSError:
            return {}
        out = {}
        for key in ("VmRSS", "RssAnon", "RssFile", "Threads"):
            m = re.search(key + r":\s+(\d+)", text)
            if m:
                out[key] = int(m.group(1))
        return out

    def fds(self):
        try:
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return None

    def cpu_s(self):
        try:
            fields = self._read("stat").rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        except (OSError, IndexError, ValueError):
            return None


def connect_nonblocking(address):
    """A non-blocking TCP socket with its connect under way; raises OSError if it failed at once."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setblocking(False)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rc = s.connect_ex(address)
    if rc not in (0, errno.EINPROGRESS):
        s.close()
        raise OSError(rc, os.strerror(rc))
    return s


def connect_error(s):
    return s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)


# --------------------------------------------------------------------------------------------
# Churn

class ChurnConn:
    __slots__ = ("sock", "payload", "view", "n", "sent", "received", "started", "last_progress",
                 "connected", "abort_at", "closing")


class Churn(threading.Thread):
    """One churn thread: a selector over at most `concurrency` connections, a new one started
    every 1/rate seconds while there is room. Outcomes:
      ok              the whole payload echoed and compared, then EOF after the half-close;
      aborted         reset by this client part-way through its send (on purpose);
      refused         the connect failed;
      connect_timeout / noecho_timeout: no connect, or no echoed byte, before the timeout
                      (waiting in the server's backlog: expected at the descriptor limit);
      stalled         part of the echo came back, then nothing for the timeout;
      eof_timeout     all of the echo came back, but no EOF for the timeout after the half-close;
      dropped         the server closed or reset it before the whole echo came back;
      mismatch        an echoed byte differed from the one sent, or more came back than was sent."""

    COUNTERS = ("ok", "echoed", "verified_bytes", "aborted", "refused", "connect_timeouts", "noecho_timeouts",
                "stalled", "eof_timeouts", "dropped", "mismatched", "mismatch_bytes")

    def __init__(self, index, address, rate, concurrency, max_payload, abort_fraction, timeout, seed):
        super().__init__(daemon=True, name=f"churn-{index}")
        self.address, self.rate, self.concurrency = address, rate, concurrency
        self.max_payload, self.abort_fraction, self.timeout = max_payload, abort_fraction, timeout
        self.rng = random.Random(seed)
        self.stopping = threading.Event()
        # Cumulative counters, read (racily, which is fine for ints) by the sampler.
        for k in self.COUNTERS:
            setattr(self, k, 0)
        self.durations = []
        self.notes = []

    def note(self, text):
        if len(self.notes) < 10:
            self.notes.append(text)

    def run(self):
        sel = selectors.DefaultSelector()
        conns = set()
        interval = 1.0 / self.rate if self.rate > 0 else None
        next_start = now()
        next_sweep = now()

        def finish(c, outcome):
            try:
                sel.unregister(c.sock)
            except (KeyError, ValueError):
                pass
            if outcome == "aborted":
                reset_close(c.sock)
            else:
                c.sock.close()
            conns.discard(c)
            if outcome == "ok":
                self.ok += 1
                self.echoed += c.n
                self.durations.append(now() - c.started)
            elif outcome == "aborted":
                self.aborted += 1
            elif outcome == "refused":
                self.refused += 1
            elif outcome == "timeout":
                if not c.connected:
                    self.connect_timeouts += 1
                elif c.closing:
                    self.eof_timeouts += 1
                    self.note(f"churn: payload of {c.n} B echoed, no EOF within {self.timeout:g} s of the half-close")
                elif c.received == 0:
                    self.noecho_timeouts += 1
                else:
                    self.stalled += 1
                    self.note(f"churn: payload of {c.n} B, echo stalled at {c.received} B (sent {c.sent} B)")
            elif outcome == "dropped":
                self.dropped += 1
                self.note(f"churn: payload of {c.n} B, dropped by the server after {c.received} B echoed "
                          f"(sent {c.sent} B{', half-closed' if c.closing else ''})")
            elif outcome == "mismatch":
                self.mismatched += 1

        def mismatch(c, data, expected):
            bad = sum(1 for a, b in zip(data, expected) if a != b) + abs(len(data) - len(expected))
            self.mismatch_bytes += max(1, bad)
            first = next((i for i, (a, b) in enumerate(zip(data, expected)) if a != b), min(len(data), len(expected)))
            self.note(f"churn: payload of {c.n} B, {len(data)} B received at offset {c.received}: {bad} B differ or extra, "
                      f"first at offset {c.received + first}")
            finish(c, "mismatch")

        while True:
            t = now()
            if self.stopping.is_set():
                if not conns:
                    break
            elif interval:
                while next_start <= t and len(conns) < self.concurrency:
                    next_start += interval
                    c = ChurnConn()
                    c.n = self.rng.randint(1, self.max_payload)
                    c.payload = self.rng.randbytes(c.n)
                    c.view = memoryview(c.payload)
                    c.sent = c.received = 0
                    c.started = c.last_progress = t
                    c.connected = c.closing = False
                    c.abort_at = self.rng.randint(1, c.n - 1) if c.n > 1 and self.rng.random() < self.abort_fraction else None
                    try:
                        c.sock = connect_nonblocking(self.address)
                    except OSError:
                        self.refused += 1
                        continue
                    conns.add(c)
                    sel.register(c.sock, selectors.EVENT_WRITE, c)
                if next_start < t - 1:
                    next_start = t - 1  # full: no catching up by more than a second's worth
            if t >= next_sweep:
                next_sweep = t + 0.1
                for c in [c for c in conns if t - c.last_progress > self.timeout]:
                    finish(c, "timeout")
            wait = 0.05
            if interval and not self.stopping.is_set() and len(conns) < self.concurrency:
                wait = max(0.0, min(wait, next_start - t))
            for key, mask in sel.select(wait):
                c = key.data
                if c not in conns:
                    continue
                if not c.connected:
                    if connect_error(c.sock):
                        finish(c, "refused")
                        continue
                    c.connected = True
                    sel.modify(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
                    mask = selectors.EVENT_WRITE
                n = c.n
                limit = c.abort_at if c.abort_at is not None else n
                if mask & selectors.EVENT_WRITE and c.sent < limit:
                    try:
                        c.sent += c.sock.send(c.view[c.sent:min(limit, c.sent + 65536)])
                    except BlockingIOError:
                        pass
                    except OSError:
                        finish(c, "dropped")
                        continue
                    if c.sent == limit:
                        if c.abort_at is not None:
                            finish(c, "aborted")
                            continue
                        sel.modify(c.sock, selectors.EVENT_READ, c)
                if mask & selectors.EVENT_READ:
                    try:
                        # Once the whole echo is back, read more than could be there: an extra byte is an error.
                        data = c.sock.recv(65536 if c.closing else min(65536, n - c.received))
                    except BlockingIOError:
                        continue
                    except OSError:
                        finish(c, "dropped")
                        continue
                    if not data:
                        finish(c, "ok" if c.closing else "dropped")
                        continue
                    if c.closing:
                        mismatch(c, data, b"")
                        continue
                    expected = c.view[c.received:c.received + len(data)]
                    if data != expected:
                        mismatch(c, data, expected)
                        continue
                    c.received += len(data)
                    self.verified_bytes += len(data)
                    c.last_progress = now()
                    if c.received == n:
                        c.closing = True
                        try:
                            c.sock.shutdown(socket.SHUT_WR)
                        except OSError:
                            finish(c, "dropped")
                            continue
        for c in list(conns):
            finish(c, "timeout")
        sel.close()


# --------------------------------------------------------------------------------------------
# Idle

class IdleSlot:
    __slots__ = ("id", "sock", "state", "deadline", "message", "got", "retry_at")


class Idle(threading.Thread):
    """Opens up to `target` connections (paced, at most `max_pending` opening at once), checks
    each with a small echo, holds them; a held connection that the server closes is counted as
    lost and reopened. At verify_requested it checks each held one with one more echo, then
    closes them all."""

    def __init__(self, address, target, rate, max_pending, timeout, seed):
        super().__init__(daemon=True, name="idle")
        self.address, self.target, self.rate, self.max_pending, self.timeout = address, target, rate, max_pending, timeout
        self.rng = random.Random(seed)
        self.slots = []
        for i in range(target):
            s = IdleSlot()
            s.id, s.sock, s.state, s.deadline, s.message, s.got, s.retry_at = i, None, "wait", 0, b"", b"", 0
            self.slots.append(s)
        self.held = self.refused = self.timeouts = self.dropped = self.lost = self.mismatched = 0
        self.verified = self.verify_failed = self.verified_bytes = 0
        self.verify_failures = collections.Counter()
        self.notes = []
        self.verify_requested = threading.Event()
        self.done = threading.Event()
        self.opened_all_at = None

    def note(self, text):
        if len(self.notes) < 10:
            self.notes.append(text)

    def run(self):
        sel = selectors.DefaultSelector()
        pending = 0
        tokens = 0.0
        last = now()
        verifying = False
        verify_deadline = None

        def close(s):
            try:
                sel.unregister(s.sock)
            except (KeyError, ValueError):
                pass
            s.sock.close()
            s.sock = None

        def fail(s, kind):
            nonlocal pending
            was = s.state
            close(s)
            if was in ("connect", "probe"):
                pending -= 1
                if kind == "refused":
                    self.refused += 1
                elif kind == "timeout":
                    self.timeouts += 1
                else:
                    self.dropped += 1
                s.state, s.retry_at = "wait", now() + 1.0
            elif was == "held":
                self.held -= 1
                self.lost += 1
                self.note(f"idle {s.id}: lost while held ({kind})")
                s.state, s.retry_at = "wait", now() + 1.0
            elif was == "verify":
                self.held -= 1
                self.verify_failed += 1
                self.verify_failures[kind] += 1
                s.state = "closed"

        def check(s, data, kind):
            """Appends `data` to what `s` has got back; True when its whole message is back."""
            s.got += data
            if s.got != s.message[:len(s.got)]:  # also catches more bytes than were sent
                self.mismatched += 1
                self.note(f"idle {s.id} ({kind}): sent {s.message!r}, got {s.got!r}")
                fail(s, "mismatch")
                return False
            self.verified_bytes += len(data)
            return len(s.got) == len(s.message)

        while True:
            t = now()
            tokens = min(self.rate, tokens + (t - last) * self.rate)
            last = t
            if self.verify_requested.is_set() and not verifying:
                verifying = True
                verify_deadline = t + self.timeout
                for s in self.slots:
                    if s.state == "held":
                        s.message = b"V%07d%08x" % (s.id, self.rng.getrandbits(32))
                        s.got = b""
                        s.state = "verify"
                        try:
                            s.sock.send(s.message)  # 16 bytes into an empty buffer
                        except OSError:
                            fail(s, "send failed")
                    elif s.state in ("connect", "probe"):
                        close(s)
                        pending -= 1
                        s.state = "closed"
                    else:
                        s.state = "closed"
            if verifying:
                left = [s for s in self.slots if s.state == "verify"]
                if not left:
                    break
                if t > verify_deadline:
                    for s in left:
                        fail(s, "no echo before the timeout")
                    break
            else:
                for s in self.slots:
                    if pending >= self.max_pending or tokens < 1:
                        break
                    if s.state == "wait" and s.retry_at <= t:
                        tokens -= 1
                        try:
                            s.sock = connect_nonblocking(self.address)
                        except OSError:
                            self.refused += 1
                            s.retry_at = t + 1.0
                            continue
                        s.state, s.deadline, pending = "connect", t + self.timeout, pending + 1
                        sel.register(s.sock, selectors.EVENT_WRITE, s)
                if pending:
                    for s in self.slots:
                        if s.state in ("connect", "probe") and t > s.deadline:
                            fail(s, "timeout")
                if self.opened_all_at is None and self.held == self.target:
                    self.opened_all_at = t
            for key, mask in sel.select(0.1):
                s = key.data
                if s.sock is None:
                    continue
                if s.state == "connect":
                    if connect_error(s.sock):
                        fail(s, "refused")
                        continue
                    s.state = "probe"
                    s.message, s.got = b"P%07d" % s.id, b""
                    try:
                        s.sock.send(s.message)
                    except OSError:
                        fail(s, "dropped")
                        continue
                    sel.modify(s.sock, selectors.EVENT_READ, s)
                    continue
                try:
                    data = s.sock.recv(64)
                except BlockingIOError:
                    continue
                except OSError:
                    fail(s, "reset")
                    continue
                if not data:
                    fail(s, "closed by the server")
                elif s.state == "probe":
                    if check(s, data, "opening echo"):
                        s.state = "held"
                        pending -= 1
                        self.held += 1
                elif s.state == "verify":
                    if check(s, data, "final echo"):
                        self.verified += 1
                        s.state = "verified"
                elif s.state == "held":
                    self.mismatched += 1
                    self.note(f"idle {s.id}: got unsolicited bytes {data!r}")
                    fail(s, "unsolicited bytes")
        for s in self.slots:
            if s.sock is not None:
                close(s)
        sel.close()
        self.done.set()


# --------------------------------------------------------------------------------------------
# Flood

class FloodConn:
    __slots__ = ("id", "sock", "state", "message", "got", "served_at")


class Flood(threading.Thread):
    """Takes the server to its descriptor limit: every `every` seconds, `count` connections at
    once (more than the descriptors left to it), each checked with one small echo and held
    until `hold` seconds after the burst began, then closed. Those beyond the limit wait in the
    backlog while the server's accepts fail with EMFILE and back off, and must be served once
    the first ones close. A burst ends when all of its connections are closed; the next starts
    `every` seconds after it began (or at once, if it took longer)."""

    def __init__(self, address, count, every, hold, timeout, seed):
        super().__init__(daemon=True, name="flood")
        self.address, self.count, self.every, self.hold, self.timeout = address, count, every, hold, timeout
        self.rng = random.Random(seed)
        self.stopping = threading.Event()
        self.bursts = self.served = self.refused = self.timeouts = self.dropped = self.mismatched = 0
        self.verified_bytes = 0
        self.waits = []  # seconds from a burst's start to each echo, drained by the sampler
        self.max_wait = 0.0
        self.notes = []

    def run(self):
        sel = selectors.DefaultSelector()
        conns = []
        burst_at = now() + self.every / 2
        next_id = 0

        def close(c):
            try:
                sel.unregister(c.sock)
            except (KeyError, ValueError):
                pass
            c.sock.close()
            c.sock, c.state = None, "closed"

        while True:
            t = now()
            if not conns:
                if self.stopping.is_set():
                    break
                if t >= burst_at:
                    self.bursts += 1
                    start = t
                    burst_at = t + self.every
                    for _ in range(self.count):
                        c = FloodConn()
                        c.id, next_id = next_id, next_id + 1
                        c.message, c.got, c.served_at = b"F%07d%08x" % (c.id % 10 ** 7, self.rng.getrandbits(32)), b"", None
                        try:
                            c.sock = connect_nonblocking(self.address)
                        except OSError:
                            self.refused += 1
                            continue
                        c.state = "connect"
                        sel.register(c.sock, selectors.EVENT_WRITE, c)
                        conns.append(c)
            else:
                for c in conns:
                    if c.state == "held" and t - start >= self.hold:
                        close(c)
                    elif c.state in ("connect", "echo") and t - start > self.timeout:
                        self.timeouts += 1
                        if len(self.notes) < 10:
                            self.notes.append(f"flood: connection {c.id} {'not connected' if c.state == 'connect' else 'not echoed'} "
                                              f"{self.timeout:g} s after its burst began")
                        close(c)
                conns = [c for c in conns if c.state != "closed"]
            for key, mask in sel.select(0.05):
                c = key.data
                if c.sock is None:
                    continue
                if c.state == "connect":
                    if connect_error(c.sock):
                        self.refused += 1
                        close(c)
                        continue
                    try:
                        c.sock.send(c.message)  # 16 bytes into an empty buffer
                    except OSError:
                        self.dropped += 1
                        close(c)
                        continue
                    c.state = "echo"
                    sel.modify(c.sock, selectors.EVENT_READ, c)
                    continue
                try:
                    data = c.sock.recv(64)
                except BlockingIOError:
                    continue
                except OSError:
                    data = None
                if not data:
                    self.dropped += 1
                    if len(self.notes) < 10:
                        self.notes.append(f"flood: connection {c.id} closed by the server {'while held' if c.state == 'held' else 'before its echo'}")
                    close(c)
                    continue
                c.got += data
                if c.state != "echo" or c.got != c.message[:len(c.got)]:
                    self.mismatched += 1
                    if len(self.notes) < 10:
                        self.notes.append(f"flood: connection {c.id}: sent {c.message!r}, got {c.got!r}")
                    close(c)
                    continue
                self.verified_bytes += len(data)
                if len(c.got) == len(c.message):
                    self.served += 1
                    wait = now() - start
                    self.waits.append(wait)
                    self.max_wait = max(self.max_wait, wait)
                    c.state = "held"
        for c in conns:
            if c.sock is not None:
                close(c)
        sel.close()


# --------------------------------------------------------------------------------------------
# Hostile

class HostilePeer:
    __slots__ = ("sock", "state", "when", "allowance", "registered", "opened_at", "sent")


class Hostile(threading.Thread):
    """`count` peers that send (at most `rate` bytes/s each) and never read. One whose send
    fails (the server dropped it) or whose connect fails is reopened half a second later; one
    open for `lifetime` seconds is reset (SO_LINGER 0) and reopened at once."""

    def __init__(self, address, count, rate, lifetime, timeout):
        super().__init__(daemon=True, name="hostile")
        self.address, self.count, self.rate, self.lifetime, self.timeout = address, count, rate, lifetime, timeout
        self.stopping = threading.Event()
        self.sent = self.opened = self.reopens = self.resets = self.connect_failures = 0
        self.connected = 0
        self.max_sent_per_connection = 0
        self.chunk = os.urandom(65536)

    def run(self):
        sel = selectors.DefaultSelector()
        peers = []
        for _ in range(self.count):
            p = HostilePeer()
            p.sock, p.state, p.when, p.allowance, p.registered, p.opened_at, p.sent = None, "wait", 0.0, 0.0, False, 0.0, 0
            peers.append(p)
        last = now()
        view = memoryview(self.chunk)

        def register(p, on):
            if on and not p.registered:
                sel.register(p.sock, selectors.EVENT_WRITE, p)
            elif not on and p.registered:
                sel.unregister(p.sock)
            p.registered = on

        def drop(p, how, retry):
            register(p, False)
            if p.state == "open":
                self.connected -= 1
                self.max_sent_per_connection = max(self.max_sent_per_connection, p.sent)
            if how == "reset":
                reset_close(p.sock)
            else:
                p.sock.close()
            p.sock, p.state, p.when = None, "wait", now() + retry

        while not self.stopping.is_set():
            t = now()
            dt, last = t - last, t
            for p in peers:
                if p.state == "wait" and p.when <= t:
                    try:
                        p.sock = connect_nonblocking(self.address)
                    except OSError:
                        self.connect_failures += 1
                        p.when = t + 0.5
                        continue
                    p.state, p.when = "connect", t + self.timeout
                    register(p, True)
                elif p.state == "connect" and t > p.when:
                    self.connect_failures += 1
                    drop(p, "close", 0.5)
                elif p.state == "open":
                    if self.lifetime and t - p.opened_at >= self.lifetime:
                        self.resets += 1
                        drop(p, "reset", 0.0)
                        continue
                    p.allowance = min(self.rate / 10, p.allowance + dt * self.rate)
                    if p.allowance > 0:
                        register(p, True)  # unparked
            for key, _ in sel.select(0.05):
                p = key.data
                if p.sock is None:
                    continue
                if p.state == "connect":
                    if connect_error(p.sock):
                        self.connect_failures += 1
                        drop(p, "close", 0.5)
                        continue
                    p.state, p.allowance, p.opened_at, p.sent = "open", self.rate / 10, now(), 0
                    self.opened += 1
                    self.connected += 1
                    continue
                try:
                    n = p.sock.send(view[:int(min(65536, max(1, p.allowance)))])
                    self.sent += n
                    p.sent += n
                    p.allowance -= n
                except BlockingIOError:
                    pass  # the server's flow control holds it: the point
                except OSError:
                    self.reopens += 1
                    drop(p, "close", 0.5)
                    continue
                if p.allowance <= 0:
                    register(p, False)  # parked: nothing more to send this tick
        for p in peers:
            if p.sock is not None:
                drop(p, "close", 0)  # unread bytes queued: the close resets it anyway
        sel.close()


# --------------------------------------------------------------------------------------------

def percentile(values, q):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", "--spool", dest="binary", default=os.path.join(here, "..", ".build", "release", "spool"),
                    help="the spool executable (default: ../.build/release/spool)")
    ap.add_argument("--backend", choices=["io_uring", "portable", "automatic"], help="SPOOL_BACKEND for the server (default: as in the environment)")
    ap.add_argument("--threads", type=int, help="spool echo --threads (rings; default: its own, one per core)")
    ap.add_argument("--host", default="127.0.0.1", help="a loopback address only")
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--interval", type=float, default=60, help="seconds between samples")
    ap.add_argument("--churn-threads", type=int, default=2)
    ap.add_argument("--churn-rate", type=float, default=100, help="churn connections started per second, all threads together")
    ap.add_argument("--churn-concurrency", type=int, default=32, help="churn connections open at once, all threads together")
    ap.add_argument("--max-payload", type=int, default=65536)
    ap.add_argument("--abort-fraction", type=float, default=0.05, help="churn connections reset part-way through their send")
    ap.add_argument("--idle", type=int, default=2000)
    ap.add_argument("--idle-rate", type=float, default=500, help="idle connections opened per second at most")
    ap.add_argument("--hostile", type=int, default=4)
    ap.add_argument("--hostile-rate", type=float, default=4, help="MiB/s each hostile peer sends at most")
    ap.add_argument("--hostile-lifetime", type=float, default=30, help="seconds before a hostile peer is reset and reopened (0: never)")
    ap.add_argument("--flood", type=int, default=32, help="connections opened at once in each burst (0: none)")
    ap.add_argument("--flood-every", type=float, default=5, help="seconds between bursts")
    ap.add_argument("--flood-hold", type=float, default=1, help="seconds a burst's connections stay open")
    ap.add_argument("--fd-limit", type=int, default=1024, help="the server's soft RLIMIT_NOFILE (0: not lowered)")
    ap.add_argument("--headroom", type=int, default=16, help="with --fd-limit: descriptors idle connections leave to churn and the bursts")
    ap.add_argument("--timeout", type=float, default=10, help="seconds a client waits for its connect, and for each step of its echo")
    ap.add_argument("--settle", type=float, default=15, help="seconds to wait for the server's descriptors to return to the baseline")
    ap.add_argument("--fd-tolerance", type=int, default=4)
    ap.add_argument("--rss-growth", type=float, default=10, help="per cent")
    ap.add_argument("--seed", type=int, default=20)
    ap.add_argument("--json", help="write the options, samples, totals and verdict here")
    args = ap.parse_args()

    if not ipaddress.ip_address(args.host).is_loopback:
        raise SystemExit("soak.py: --host must be a loopback address (127.0.0.0/8 or ::1)")
    if args.fd_limit and args.flood <= args.headroom:
        print(f"soak.py: note: --flood {args.flood} ≤ --headroom {args.headroom}: the bursts may not take the server "
              f"to its descriptor limit", file=sys.stderr)
    binary = os.path.abspath(args.binary)
    if not os.access(binary, os.X_OK):
        print(f"soak.py: no spool executable at {binary} (swift build -c release --product spool, or --binary)", file=sys.stderr)
        return 2

    # This process holds every client socket: its own soft limit goes up to the hard limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    need = args.idle + args.churn_concurrency + args.hostile + args.flood + 64
    if hard < need:
        print(f"soak.py: the descriptor hard limit ({hard}) is below what the clients need ({need})", file=sys.stderr)
        return 2

    env = dict(os.environ)
    if args.backend:
        env["SPOOL_BACKEND"] = args.backend
    cmd = [binary, "echo", "--host", args.host, "--port", "0"]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    wall_start = datetime.datetime.now().astimezone()
    server = Server(cmd, env, args.fd_limit)
    if not server.listening.wait(30):
        if server.alive():
            server.p.kill()
        server.p.wait()
        print(f"soak.py: spool echo did not start (exit status {server.p.returncode}); its output:", file=sys.stderr)
        for line in server.lines:
            print("  " + line, file=sys.stderr)
        return 2
    address = (args.host, server.address[1])
    time.sleep(1)
    started = now()
    baseline_fds, baseline = server.fds(), server.status()

    idle_target = args.idle
    budget = None
    if args.fd_limit:
        budget = args.fd_limit - baseline_fds - args.hostile - args.headroom
        idle_target = max(0, min(args.idle, budget))
    backend = env.get("SPOOL_BACKEND", "automatic (not set)")
    print(f"soak: started {wall_start.isoformat(timespec='seconds')}: {' '.join(cmd)}  (pid {server.pid}, "
          f"SPOOL_BACKEND={backend}, port {address[1]})")
    print(f"soak: server descriptor limit {args.fd_limit or 'not lowered'}; baseline {baseline_fds} descriptors, "
          f"{baseline.get('VmRSS')} KiB RSS, {baseline.get('Threads')} threads")
    if budget is not None and idle_target < args.idle:
        print(f"soak: idle connections held: {idle_target} of {args.idle} (the budget: limit {args.fd_limit} - baseline "
              f"{baseline_fds} - hostile {args.hostile} - headroom {args.headroom}); bursts of {args.flood} > headroom, "
              f"so accepts meet EMFILE every {args.flood_every:g} s")
    print(f"soak: {args.minutes:g} min; churn {args.churn_rate:g}/s from {args.churn_threads} threads (≤ {args.churn_concurrency} open, "
          f"1 B–{args.max_payload} B, {100 * args.abort_fraction:g} % reset mid-send); {idle_target} idle; {args.hostile} hostile "
          f"peers (≤ {args.hostile_rate:g} MiB/s each, reset every {args.hostile_lifetime:g} s); bursts of {args.flood} every "
          f"{args.flood_every:g} s, held {args.flood_hold:g} s; sample every {args.interval:g} s",
          flush=True)

    rng = random.Random(args.seed)
    per_thread_rate = args.churn_rate / max(1, args.churn_threads)
    per_thread_conc = max(1, args.churn_concurrency // max(1, args.churn_threads))
    churn = [Churn(i, address, per_thread_rate, per_thread_conc, args.max_payload, args.abort_fraction, args.timeout,
                   rng.getrandbits(64)) for i in range(args.churn_threads)]
    hostile = Hostile(address, args.hostile, args.hostile_rate * 1024 * 1024, args.hostile_lifetime, args.timeout)
    idle = Idle(address, idle_target, args.idle_rate, 256, args.timeout, rng.getrandbits(64))
    flood = Flood(address, args.flood, args.flood_every, args.flood_hold, args.timeout, rng.getrandbits(64))
    for t in churn + [hostile, idle] + ([flood] if args.flood else []):
        t.start()

    def churn_totals():
        return {k: sum(getattr(c, k) for c in churn) for k in Churn.COUNTERS}

    samples = []
    prev = churn_totals()
    prev_t = started
    prev_cpu = server.cpu_s()
    prev_self = sum(os.times()[:2])
    prev_backoffs = server.backoff_total
    prev_emfile = server.backoffs[errno.EMFILE]
    fds_peak = baseline_fds  # the most descriptors seen since the last sample (polled twice a second)
    died = False
    run_for = args.minutes * 60
    header = (f"{'t s':>6} {'alive':>5} {'RSS MiB':>8} {'fds':>5} {'peak':>5} {'thr':>4} {'srv CPU':>7} {'churn ok':>8} {'conn/s':>7} "
              f"{'MiB/s':>6} {'p99 s':>6} {'max s':>6} {'aborted':>7} {'waited':>6} {'bad':>4} {'backoffs':>8} {'flood':>5} {'wait s':>6} "
              f"{'idle':>5} {'lost':>4} {'hostile':>7} {'resets':>6} {'soak CPU':>8}")
    print(header, flush=True)

    def sample(t):
        nonlocal prev, prev_t, prev_cpu, prev_self, prev_backoffs, prev_emfile, fds_peak
        alive = server.alive()
        totals = churn_totals()
        d = {k: totals[k] - prev[k] for k in totals}
        span = max(1e-9, t - prev_t)
        durations = []
        for c in churn:
            ds, c.durations = c.durations, []
            durations += ds
        st = server.status() if alive else {}
        cpu = server.cpu_s() if alive else None
        self_cpu = sum(os.times()[:2])
        backoffs, emfile = server.backoff_total, server.backoffs[errno.EMFILE]
        waits, flood.waits = flood.waits, []
        row = {
            "t": round(t - started, 1), "span": round(span, 1), "alive": alive,
            "rss_kib": st.get("VmRSS"), "rss_anon_kib": st.get("RssAnon"), "rss_file_kib": st.get("RssFile"),
            "fds": server.fds() if alive else None, "fds_peak": fds_peak, "threads": st.get("Threads"),
            "server_cpu_pct": round(100 * (cpu - prev_cpu) / span, 1) if cpu is not None and prev_cpu is not None else None,
            "churn_ok": d["ok"], "churn_conn_per_s": round(d["ok"] / span, 1),
            "churn_mib_per_s": round(d["echoed"] / span / 1048576, 2),
            "churn_p99_s": percentile(durations, 0.99), "churn_max_s": max(durations) if durations else None,
            "churn_aborted": d["aborted"], "churn_refused": d["refused"], "churn_connect_timeouts": d["connect_timeouts"],
            "churn_noecho_timeouts": d["noecho_timeouts"], "churn_stalled": d["stalled"],
            "churn_eof_timeouts": d["eof_timeouts"], "churn_dropped": d["dropped"], "churn_mismatched": d["mismatched"],
            "verified_bytes_total": totals["verified_bytes"] + idle.verified_bytes + flood.verified_bytes,
            "mismatched_total": totals["mismatched"] + idle.mismatched + flood.mismatched,
            "backoff_episodes": backoffs - prev_backoffs, "emfile_episodes": emfile - prev_emfile,
            "flood_bursts_total": flood.bursts, "flood_served": len(waits), "flood_max_wait_s": round(max(waits), 3) if waits else None,
            "flood_timeouts_total": flood.timeouts, "flood_dropped_total": flood.dropped,
            "idle_held": idle.held, "idle_lost_total": idle.lost,
            "hostile_connected": hostile.connected, "hostile_resets_total": hostile.resets,
            "hostile_reopens_total": hostile.reopens, "hostile_mib_sent_total": round(hostile.sent / 1048576, 1),
            "soak_cpu_pct": round(100 * (self_cpu - prev_self) / span, 1),
        }
        prev, prev_t, prev_cpu, prev_self, prev_backoffs, prev_emfile = totals, t, cpu, self_cpu, backoffs, emfile
        fds_peak = 0
        samples.append(row)
        fmt = lambda v, spec: "-" if v is None else format(v, spec)
        waited = row["churn_refused"] + row["churn_connect_timeouts"] + row["churn_noecho_timeouts"]
        bad = row["churn_stalled"] + row["churn_eof_timeouts"] + row["churn_dropped"] + row["churn_mismatched"]
        print(f"{row['t']:>6.0f} {'yes' if alive else 'NO':>5} {fmt(row['rss_kib'] and row['rss_kib'] / 1024, '8.1f')} "
              f"{fmt(row['fds'], '5d')} {fmt(row['fds_peak'], '5d')} {fmt(row['threads'], '4d')} {fmt(row['server_cpu_pct'], '6.0f')}% {row['churn_ok']:>8} "
              f"{row['churn_conn_per_s']:>7.1f} {row['churn_mib_per_s']:>6.2f} {fmt(row['churn_p99_s'], '6.2f')} "
              f"{fmt(row['churn_max_s'], '6.2f')} {row['churn_aborted']:>7} {waited:>6} {bad:>4} {row['backoff_episodes']:>8} {row['flood_served']:>5} "
              f"{fmt(row['flood_max_wait_s'], '6.2f')} {row['idle_held']:>5} {row['idle_lost_total']:>4} {row['hostile_connected']:>7} {row['hostile_resets_total']:>6} "
              f"{row['soak_cpu_pct']:>7.0f}%", flush=True)
        return alive

    next_sample = started + args.interval
    end = started + run_for
    interrupted = False
    try:
        while True:
            t = now()
            if not server.alive():
                died = True
                sample(t)
                break
            if t >= end:
                sample(t)
                break
            n = server.fds()
            if n is not None:
                fds_peak = max(fds_peak, n)
            if t >= next_sample:
                sample(t)
                next_sample += args.interval
            time.sleep(min(0.5, max(0.0, min(next_sample, end) - now())))
    except KeyboardInterrupt:
        interrupted = True
        print("soak: interrupted; tearing down", flush=True)
    run_seconds = now() - started

    # Teardown: stop churn (in-flight connections finish or time out), check and close the
    # idle connections, close the hostile peers.
    for c in churn + [flood]:
        c.stopping.set()
    for c in churn + [flood]:
        if c.is_alive():
            c.join(args.timeout + 5)
    idle.verify_requested.set()
    idle.done.wait(args.timeout + 10)
    hostile.stopping.set()
    hostile.join(5)

    final_fds = None
    settle_seconds = None
    after = {}
    if not died and server.alive():
        t0 = now()
        time.sleep(3)
        while True:
            final_fds = server.fds()
            if final_fds is not None and abs(final_fds - baseline_fds) <= args.fd_tolerance:
                break
            if now() - t0 > args.settle or not server.alive():
                break
            time.sleep(0.5)
        settle_seconds = now() - t0
        after = server.status()

    exit_status = None
    term_seconds = None
    if server.alive():
        t0 = now()
        server.p.send_signal(signal.SIGTERM)
        try:
            exit_status = server.p.wait(30)
        except subprocess.TimeoutExpired:
            server.p.kill()
            server.p.wait()
            exit_status = "hung (killed after 30 s)"
        term_seconds = now() - t0
    else:
        died = True
    time.sleep(0.2)  # the drain thread reads the last lines

    # Verdict
    checks = []
    if died:
        at = (server.exited_at or now()) - started
        checks.append(("server alive throughout", False,
                       f"exited with status {server.p.returncode} at {at:.1f} s (of {run_for:.0f} s); last output: "
                       + (" | ".join(list(server.lines)[-3:]) or "none")))
    else:
        checks.append(("server alive throughout", not interrupted,
                       f"{len(samples)} samples, polled every 0.5 s" + ("; interrupted" if interrupted else "")))
    live = [s for s in samples if s["alive"] and s["rss_kib"]]
    ref_at = 60 if run_for >= 120 else run_for / 2
    ref = next((s for s in live if s["t"] >= ref_at - 1), None)
    rss_name = "RSS growth ≤ %g %% after the first minute" % args.rss_growth
    rss = {}
    if died:
        checks.append((rss_name, False, "server exited"))
    elif ref is None or ref is live[-1]:
        checks.append((rss_name, False, f"not measured: no sample after the one at {ref_at:.0f} s (a longer run, or a shorter --interval)"))
    else:
        growth = 100 * (live[-1]["rss_kib"] - ref["rss_kib"]) / ref["rss_kib"]
        peak = max(s["rss_kib"] for s in live if s["t"] >= ref["t"])
        rss = {"ref_t": ref["t"], "ref_kib": ref["rss_kib"], "end_t": live[-1]["t"], "end_kib": live[-1]["rss_kib"],
               "growth_pct": round(growth, 2), "peak_kib": peak, "after_clients_closed_kib": after.get("VmRSS")}
        checks.append((rss_name, growth <= args.rss_growth,
                       f"{ref['rss_kib'] / 1024:.1f} MiB at {ref['t']:.0f} s -> {live[-1]['rss_kib'] / 1024:.1f} MiB at "
                       f"{live[-1]['t']:.0f} s ({growth:+.1f} %; peak {peak / 1024:.1f} MiB"
                       + (f"; {after['VmRSS'] / 1024:.1f} MiB after the clients closed" if after.get("VmRSS") else "") + ")"))
    if final_fds is None:
        checks.append(("descriptors back to baseline", False, "server exited" if died else "could not read /proc"))
    else:
        peak_fds = max((s["fds_peak"] for s in samples if s["fds_peak"] is not None), default=None)
        checks.append(("descriptors back to baseline", abs(final_fds - baseline_fds) <= args.fd_tolerance,
                       f"baseline {baseline_fds}, {final_fds} {settle_seconds:.1f} s after the clients closed (± {args.fd_tolerance}); "
                       f"peak {peak_fds} (polled twice a second) of limit {args.fd_limit or 'not lowered'}"))
    ct = churn_totals()
    verified = ct["verified_bytes"] + idle.verified_bytes + flood.verified_bytes
    bad = ct["mismatched"] + idle.mismatched + flood.mismatched
    notes = sum((c.notes for c in churn), []) + idle.notes + flood.notes
    checks.append(("every echoed byte compared, none differed", bad == 0 and verified > 0,
                   f"{verified} B compared ({verified / 1048576:.1f} MiB; churn {ct['verified_bytes']}, idle {idle.verified_bytes}, "
                   f"bursts {flood.verified_bytes}); mismatched: churn {ct['mismatched']} connections ({ct['mismatch_bytes']} B), "
                   f"idle {idle.mismatched}, bursts {flood.mismatched}"
                   + ("; " + "; ".join(n for n in notes if "differ" in n or "got" in n)[:600] if bad else "")))
    counted = [s for s in samples if s["span"] >= min(5, args.interval / 2)]
    empty = [s for s in counted if s["churn_ok"] == 0]
    checks.append(("churn succeeded in every interval", bool(counted) and not empty,
                   f"{ct['ok']} connections echoed ({ct['echoed'] / 1048576:.1f} MiB, {ct['ok'] / max(1e-9, run_seconds):.1f}/s, "
                   f"{ct['echoed'] / max(1e-9, run_seconds) / 1048576:.2f} MiB/s); intervals with none: "
                   + (", ".join(f"{s['t']:.0f} s" for s in empty) or "none")))
    broken = ct["stalled"] + ct["eof_timeouts"] + ct["dropped"]
    checks.append(("no churn connection dropped, stalled or left open", broken == 0,
                   f"{ct['dropped']} dropped, {ct['stalled']} stalled mid-echo, {ct['eof_timeouts']} with no EOF after the half-close"
                   + ("; " + "; ".join(n for n in notes if n.startswith("churn") and "differ" not in n)[:600] if broken else "")))
    idle_ok = (not died and idle.lost == 0 and idle.verified == idle_target)
    failures = ", ".join(f"{n} {k}" for k, n in idle.verify_failures.items())
    checks.append(("idle connections held and echoed at the end", idle_ok,
                   f"{idle.verified} of {idle_target} echoed at the end; {idle.lost} lost during the run"
                   + (f"; failures: {failures}" if failures else "")
                   + (f"; all {idle_target} held after {idle.opened_all_at - started:.1f} s" if idle.opened_all_at else
                      f"; never all held at once")))
    emfile_intervals = [s for s in counted if s["emfile_episodes"] > 0]
    if args.flood:
        checks.append(("every burst connection served, none dropped", flood.served > 0 and flood.timeouts == 0 and flood.dropped == 0,
                       f"{flood.served} served in {flood.bursts} bursts of {args.flood} (the last at most {flood.max_wait:.2f} s after "
                       f"its burst began); {flood.timeouts} not served within {args.timeout:g} s, {flood.dropped} dropped, "
                       f"{flood.refused} refused" + ("; " + "; ".join(n for n in flood.notes)[:600] if flood.timeouts or flood.dropped else "")))
    if args.fd_limit:
        checks.append(("EMFILE back-off in every interval", bool(counted) and len(emfile_intervals) == len(counted),
                       f"{server.backoffs[errno.EMFILE]} EMFILE episodes in {len(emfile_intervals)} of {len(counted)} intervals"
                       + (f" (other errnos: {dict((k, v) for k, v in server.backoffs.items() if k != errno.EMFILE)})"
                          if server.backoff_total > server.backoffs[errno.EMFILE] else "")))
    if died:
        checks.append(("exit 0 on SIGTERM", False, "it had already exited"))
    else:
        checks.append(("exit 0 on SIGTERM", exit_status == 0, f"exit status {exit_status} after {term_seconds:.1f} s"))

    soak_cpu = [s["soak_cpu_pct"] for s in samples if s["span"] >= 1]
    server_cpu = [s["server_cpu_pct"] for s in samples if s["server_cpu_pct"] is not None and s["span"] >= 1]
    print()
    print(f"soak: churn totals: {ct['ok']} ok, {ct['aborted']} reset mid-send on purpose, {ct['refused']} refused, "
          f"{ct['connect_timeouts']} connect timeouts, {ct['noecho_timeouts']} timed out with no echo (waiting in the backlog), "
          f"{ct['stalled']} stalled mid-echo, {ct['eof_timeouts']} no EOF, {ct['dropped']} dropped, {ct['mismatched']} mismatched")
    print(f"soak: bursts: {flood.bursts} of {args.flood} connections each, {flood.served} connections served (at most {flood.max_wait:.2f} s after "
          f"the burst began), {flood.timeouts} timed out, {flood.dropped} dropped, {flood.refused} refused")
    print(f"soak: idle opening: {idle.refused} refused, {idle.timeouts} timed out, {idle.dropped} dropped (all retried)")
    print(f"soak: hostile: {hostile.opened} opened, {hostile.resets} reset after {args.hostile_lifetime:g} s, {hostile.reopens} "
          f"reopened after a drop, {hostile.connect_failures} connects failed, {hostile.sent / 1048576:.1f} MiB sent "
          f"(at most {hostile.max_sent_per_connection / 1048576:.2f} MiB on one connection)")
    print(f"soak: accept back-off episodes logged by the server: {server.backoff_total} "
          f"({', '.join(f'errno {k}: {v}' for k, v in sorted(server.backoffs.items())) or 'none'}); "
          f"first: {server.first_backoff or 'none'}")
    print(f"soak: CPU: server {sum(server_cpu) / max(1, len(server_cpu)):.0f} % on average; this script "
          f"{sum(soak_cpu) / max(1, len(soak_cpu)):.0f} % on average, {max(soak_cpu, default=0):.0f} % at most (of one core)")
    if server.levels:
        print(f"soak: server log lines by level: {dict(server.levels)}")
    if server.notable_count:
        print("soak: other server warnings and errors (count × line, digits as N):")
        for line, n in server.notable_count.most_common(8):
            print(f"  {n} × {line}")
    last = [l for l in server.lines if "stopped gracefully" in l]
    if last:
        print(f"soak: {last[-1]}")
    print()
    print("| check | result | detail |")
    print("|---|---|---|")
    for name, ok, detail in checks:
        print(f"| {name} | {'pass' if ok else 'FAIL'} | {detail} |")
    passed = all(ok for _, ok, _ in checks)
    print()
    print(f"soak verdict: {'PASS' if passed else 'FAIL'} ({sum(not ok for _, ok, _ in checks)} of {len(checks)} checks failed, "
          f"{run_seconds:.0f} s run)", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"started_at": wall_start.isoformat(timespec="seconds"), "command": cmd, "backend": backend,
                       "options": vars(args), "run_seconds": round(run_seconds, 1),
                       "baseline": {"fds": baseline_fds, "rss_kib": baseline.get("VmRSS"), "threads": baseline.get("Threads")},
                       "idle_target": idle_target, "final_fds": final_fds, "rss": rss,
                       "churn_totals": ct,
                       "idle": {"verified": idle.verified, "lost": idle.lost, "mismatched": idle.mismatched,
                                "verified_bytes": idle.verified_bytes, "refused": idle.refused, "timeouts": idle.timeouts,
                                "dropped": idle.dropped, "verify_failures": dict(idle.verify_failures)},
                       "flood": {"bursts": flood.bursts, "served": flood.served, "timeouts": flood.timeouts,
                                 "dropped": flood.dropped, "refused": flood.refused, "mismatched": flood.mismatched,
                                 "max_wait_s": round(flood.max_wait, 3), "verified_bytes": flood.verified_bytes},
                       "hostile": {"opened": hostile.opened, "resets": hostile.resets, "reopens": hostile.reopens,
                                   "connect_failures": hostile.connect_failures, "sent_bytes": hostile.sent,
                                   "max_sent_per_connection": hostile.max_sent_per_connection},
                       "backoff_episodes": {str(k): v for k, v in server.backoffs.items()},
                       "first_backoff_line": server.first_backoff, "server_log_levels": dict(server.levels),
                       "server_notable": server.notable_count.most_common(20), "client_notes": notes,
                       "exit_status": exit_status, "samples": samples,
                       "checks": [{"check": n, "pass": ok, "detail": d} for n, ok, d in checks],
                       "server_output_tail": list(server.lines)[-20:], "pass": passed}, f, indent=1)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
