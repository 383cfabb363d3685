#!/usr/bin/env python3
"""Memory per idle connection: the server's resident memory (VmRSS, /proc/PID/status) grown by
N idle TCP connections over loopback, in KiB per connection, for `spool echo` (either backend),
SwiftNIO's echo server (Sources/NIOEcho) and the C liburing echo server (Peers/echo_uring.c).

  1. start the server (its RLIMIT_NOFILE raised to N + 1024), read its port;
  2. warm up: 100 connections, 64 B echo rounds on each (by default 2.5 receives per buffer of
     every ring's 1024-buffer pool, at least 12 rounds: with several rings the connections spread
     unevenly; io_uring hands a provided-buffer ring's buffers out in ring order, so every buffer
     is touched once and page faults in the pools are not counted after the echo; the portable
     backend's free list is a stack, which reuses the few buffers already touched), closed; wait for the server to have closed them (its
     /proc/PID/fd count back) and its RSS to settle: the baseline;
  3. open N connections that send nothing (in batches, waiting for the server to accept each
     batch: its fd count); wait until its RSS is stable; idle KiB/conn = (RSS - baseline) / N;
  4. with --after-echo: one 64 B echo round trip on every connection (all sent, then all read
     back), RSS stable again; KiB/conn after one echo (send queues and the like now exist).

Usage (from Benchmarks/):
  python3 idle-memory.py [--server spool|nio|c] [--binary PATH] [--backend io_uring|portable]
                         [--threads 1|0] [--on-arrival] [-n 10000] [--after-echo] [--json FILE]
--threads 0 passes no --threads (spool echo's default: one ring per core). Also printed: the
machine's slab growth per connection (/proc/meminfo Slab: the kernel side, both ends of every
connection, not in the server's RSS). The server's output is drained all along.
Defaults: spool at ../.build/release/spool (--binary), nio at .build/release/nio-echo next to
this script (swift build -c release --product nio-echo), c compiled here from Peers/echo_uring.c
(gcc -O2 ... -luring; Debian: apt-get install liburing-dev). The spool backend is chosen with
the environment variable SPOOL_BACKEND (io_uring, portable, automatic). Python stdlib only."""
import argparse, json, math, os, re, resource, shutil, signal, socket, subprocess, sys, tempfile, threading, time

here = os.path.dirname(os.path.abspath(__file__))
MESSAGE = bytes(range(64))


def status(pid):
    """VmRSS, RssAnon, RssFile, RssShmem in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                out[k] = int(v.split()[0])
    return out


def kernel_slab():
    """The whole machine's slab memory (Slab in /proc/meminfo), KiB: the kernel side of the
    connections (sockets of both ends, io_uring requests, epoll entries), not in any RSS."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Slab:"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_fds(pid, predicate, what, timeout=60):
    deadline = time.time() + timeout
    while True:
        n = fd_count(pid)
        if predicate(n):
            return n
        if time.time() > deadline:
            raise SystemExit(f"server fd count {n}: timed out waiting for {what}")
        time.sleep(0.02)


def stable_rss(pid, settle=0.5, tolerance_kib=64, timeout=30):
    """Samples RSS every `settle` s until two samples in a row differ by at most `tolerance_kib`."""
    deadline = time.time() + timeout
    last = status(pid)
    while True:
        time.sleep(settle)
        now = status(pid)
        if abs(now["VmRSS"] - last["VmRSS"]) <= tolerance_kib or time.time() > deadline:
            return now
        last = now


def echo_round_trip(socks):
    """Sends 64 B on every socket, then reads each one's 64 B back."""
    for s in socks:
        s.sendall(MESSAGE)
    for s in socks:
        got = b""
        while len(got) < len(MESSAGE):
            chunk = s.recv(len(MESSAGE) - len(got))
            if not chunk:
                raise SystemExit("the server closed a connection during the echo")
            got += chunk
        if got != MESSAGE:
            raise SystemExit("echo mismatch")


def connect(port, count, pid, base_fds, batch=256):
    """Opens `count` connections in batches, each batch accepted (server fds) before the next."""
    socks = []
    while len(socks) < count:
        for _ in range(min(batch, count - len(socks))):
            s = socket.create_connection(("127.0.0.1", port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            socks.append(s)
        want = base_fds + len(socks)
        wait_fds(pid, lambda n: n >= want, f"{len(socks)} accepted connections")
    return socks


def server_command(args, work):
    if args.server == "spool":
        binary = args.binary or os.path.join(here, "..", ".build", "release", "spool")
        env = dict(os.environ)
        if args.backend:
            env["SPOOL_BACKEND"] = args.backend
        threads = ["--threads", str(args.threads)] if args.threads > 0 else []  # 0: the server's default
        return [binary, "echo"] + threads + (["--on-arrival"] if args.on_arrival else []), env
    if args.server == "nio":
        return [args.binary or os.path.join(here, ".build", "release", "nio-echo")], None
    binary = args.binary
    if not binary:
        if not os.path.exists("/usr/include/liburing.h"):
            raise SystemExit("the C peer needs liburing's headers: apt-get install liburing-dev")
        binary = f"{work}/echo_uring"
        subprocess.run(["gcc", "-O2", "-o", binary, f"{here}/Peers/echo_uring.c", "-luring"], check=True)
    return [binary], None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", choices=["spool", "nio", "c"], default="spool")
    ap.add_argument("--binary", help="the server executable (default: see above)")
    ap.add_argument("--backend", choices=["io_uring", "portable", "automatic"],
                    help="spool only: SPOOL_BACKEND for the server (default: unset, i.e. automatic)")
    ap.add_argument("--on-arrival", action="store_true",
                    help="spool only: spool echo --on-arrival (StreamSocket.serveOnArrival: no task while a connection is idle)")
    ap.add_argument("--threads", type=int, default=1,
                    help="spool only: --threads (rings); 0 passes none (the server's default: one per core)")
    ap.add_argument("-n", "--connections", type=int, default=10000)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--warmup-rounds", type=int,
                    help="64 B echo round trips per warm-up connection (default: enough for 2.5 receives per "
                         "buffer of every ring's 1024-buffer pool: 26 per ring for 100 connections)")
    ap.add_argument("--after-echo", action="store_true", help="also measure after one 64 B echo per connection")
    ap.add_argument("--pin", action="store_true", help="server on CPU 0 (taskset), this script on CPU 1")
    ap.add_argument("--json")
    args = ap.parse_args()

    limit = args.connections + args.warmup + 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < limit:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, max(hard, limit)))

    def raise_server_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, max(limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))

    work = tempfile.mkdtemp(prefix="spool-idle-memory-")
    cmd, env = server_command(args, work)
    if args.pin:
        cmd = ["taskset", "-c", "0"] + cmd
        os.sched_setaffinity(0, {1})
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                         preexec_fn=raise_server_limit)
    # The server's output is read all along (a log line per warning must never fill the pipe and
    # block the server); the port comes from the first line that names it.
    output, found = [], threading.Event()
    def drain():
        for line in p.stdout:
            output.append(line)
            if "listening on" in line:
                found.set()
        found.set()
    threading.Thread(target=drain, daemon=True).start()
    try:
        found.wait(60)
        m = next((m for m in (re.search(r"listening on 127\.0\.0\.1:(\d+)", l) for l in output) if m), None)
        if not m:
            raise SystemExit(f"{cmd[0]} did not start: {''.join(output)!r}")
        port = int(m.group(1))
        pid = p.pid  # taskset (--pin) execs the server: the same pid
        # Rings: --threads, or one per core the server may run on (Runtime.Configuration.coreCount).
        rings = (args.threads if args.threads > 0 else len(os.sched_getaffinity(pid))) if args.server == "spool" else 1
        rounds = args.warmup_rounds or max(12, math.ceil(2.5 * 1024 * rings / max(args.warmup, 1)))
        start = status(pid)

        # Warm-up: connections that echo once and close.
        fds0 = fd_count(pid)
        warm = connect(port, args.warmup, pid, fds0)
        for _ in range(rounds):
            echo_round_trip(warm)
        for s in warm:
            s.close()
        wait_fds(pid, lambda n: n <= fds0, "the warm-up connections to close")
        base = stable_rss(pid)
        base_fds = fd_count(pid)
        slab0 = kernel_slab()

        # N idle connections.
        t0 = time.time()
        socks = connect(port, args.connections, pid, base_fds)
        accept_s = time.time() - t0
        idle = stable_rss(pid)
        slab1 = kernel_slab()
        n = args.connections
        per = lambda a, b, k="VmRSS": (a[k] - b[k]) / n
        result = {"server": args.server, "on_arrival": args.on_arrival, "backend": args.backend, "threads": rings, "warmup_rounds": rounds,
                  "connections": n, "rss_start_kib": start["VmRSS"], "rss_base_kib": base["VmRSS"],
                  "rss_idle_kib": idle["VmRSS"], "idle_kib_per_conn": per(idle, base),
                  "idle_anon_kib_per_conn": per(idle, base, "RssAnon"), "connect_s": accept_s,
                  "kernel_slab_kib_per_conn_both_ends": (slab1 - slab0) / n}
        if args.after_echo:
            echo_round_trip(socks)
            echoed = stable_rss(pid)
            result.update({"rss_after_echo_kib": echoed["VmRSS"], "after_echo_kib_per_conn": per(echoed, base),
                           "after_echo_anon_kib_per_conn": per(echoed, base, "RssAnon")})
        if p.poll() is not None:
            raise SystemExit(f"the server exited ({p.returncode})")
        for s in socks:
            s.close()
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(work, ignore_errors=True)

    rings = result["threads"]
    name = args.server + (f" ({args.backend or 'automatic'}, {rings} ring{'s' if rings > 1 else ''})" if args.server == "spool" else "")
    print(f"{name}: RSS start {result['rss_start_kib']} KiB, after warm-up {result['rss_base_kib']} KiB, "
          f"with {n} idle connections {result['rss_idle_kib']} KiB")
    print(f"  idle:           {result['idle_kib_per_conn']:.2f} KiB per connection (anonymous {result['idle_anon_kib_per_conn']:.2f})")
    print(f"  kernel slab:    {result['kernel_slab_kib_per_conn_both_ends']:.2f} KiB per connection, both ends, whole machine (not in RSS; "
          f"includes about 1.4 KiB of /proc inodes that counting the server's descriptors creates)")
    if args.after_echo:
        print(f"  after one echo: {result['after_echo_kib_per_conn']:.2f} KiB per connection "
              f"(anonymous {result['after_echo_anon_kib_per_conn']:.2f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


main()
