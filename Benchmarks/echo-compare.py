#!/usr/bin/env python3
"""TCP echo ping-pong over loopback: `spool echo` against a C echo server on liburing and
SwiftNIO's echo server, all driven by the same C load generator (Peers/echo_load.c), which
checks every byte. The server runs pinned to CPU 0, the load generator to CPU 1. For each
workload and repetition the servers run in rotating order; the table gives medians.

Reported per server: messages/s, p50/p99 latency, and the server's CPU time per message
(utime + stime from /proc/PID/stat over the measured window): on two cores the load
generator can be the bottleneck, so CPU per message is the figure to compare.

With --rings: `spool echo` with 1 ring against 2 rings (one SO_REUSEPORT listener each), and the
C server as the reference, nothing pinned (the two rings need both cores; the load generator
shares them), 64 connections.

With --portable: `spool echo` on the portable backend (SPOOL_BACKEND=portable: epoll, no
io_uring) against a C echo server on epoll (Peers/echo_epoll.c) and SwiftNIO's (also epoll),
pinned as above. The target: Spool's server CPU per message at most SwiftNIO's.

With --setup: connection setup, each connection a connect, one 64 B echo and a close, from two
client threads (Peers/connect_load.c), against `spool echo`, the C liburing server and
SwiftNIO's, pinned as above; the figure is the server's CPU per connection. Then each server
runs once more with a malloc counter preloaded (Peers/malloc_count.c) to count its
allocations per connection (the whole run's, warm-up included, divided by its connections).

With --hostile: `spool echo` (1 ring, each backend) serving 8 ping-pong connections of 64 B alone
and then beside one peer that sends 1 KiB segments and never reads (it connects first, so it
shares their ring and pool); the figure is the 8 connections' throughput beside it ÷ alone.

Usage (from Benchmarks/):  python3 echo-compare.py [--rings | --portable | --setup | --hostile] [--reps 3] [--seconds 4] [--warmup 1] [--json FILE]
Needs liburing's headers for the C io_uring peer (Debian: apt-get install liburing-dev), except with --portable."""
import argparse, json, os, re, shutil, signal, socket, statistics, struct, subprocess, sys, tempfile, threading, time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)

def run(cmd, cwd=None):
    subprocess.run(cmd, cwd=cwd, check=True)

def bin_path(cwd):
    return subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()

def start(server_cmd, pin=True, env=None):
    p = subprocess.Popen((["taskset", "-c", "0"] if pin else []) + server_cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=None if env is None else {**os.environ, **env})
    line = p.stdout.readline()
    m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    if not m:
        p.kill()
        raise SystemExit(f"{server_cmd[0]} did not start: {line!r}")
    return p, int(m.group(1))

def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--warmup", type=float, default=1)
    ap.add_argument("--json")
    ap.add_argument("--rings", action="store_true", help="spool echo with 1 ring against 2 rings")
    ap.add_argument("--portable", action="store_true", help="spool echo on the portable backend against C on epoll and SwiftNIO")
    ap.add_argument("--setup", action="store_true", help="connect, 64 B echo, close: server CPU and allocations per connection")
    ap.add_argument("--hostile", action="store_true", help="8 echo connections alone and beside a peer that never reads")
    args = ap.parse_args()
    if not args.portable and not os.path.exists("/usr/include/liburing.h"):
        raise SystemExit("echo-compare needs liburing's headers for its C peer: apt-get install liburing-dev")

    print("building: spool (release), nio-echo (release), the C peers (gcc -O2)", file=sys.stderr)
    run(["swift", "build", "-c", "release", "--product", "spool"], cwd=root)
    run(["swift", "build", "-c", "release", "--product", "nio-echo"], cwd=here)
    work = tempfile.mkdtemp(prefix="spool-echo-compare-")
    if not args.portable:
        run(["gcc", "-O2", "-o", f"{work}/echo_uring", f"{here}/Peers/echo_uring.c", "-luring"])
    run(["gcc", "-O2", "-o", f"{work}/echo_epoll", f"{here}/Peers/echo_epoll.c"])
    run(["gcc", "-O2", "-o", f"{work}/echo_load", f"{here}/Peers/echo_load.c"])
    if args.setup:
        run(["gcc", "-O2", "-pthread", "-o", f"{work}/connect_load", f"{here}/Peers/connect_load.c"])
        run(["gcc", "-O2", "-shared", "-fPIC", "-o", f"{work}/malloc_count.so", f"{here}/Peers/malloc_count.c"])
    servers = {
        "spool": [f"{bin_path(root)}/spool", "echo", "--threads", "1"],
        "c-liburing": [f"{work}/echo_uring"],
        "swiftnio": [f"{bin_path(here)}/nio-echo"],
    }
    workloads = [(1, 64), (64, 64), (64, 4096)]
    pin = not args.rings
    if args.rings:
        servers = {
            "spool-1-ring": [f"{bin_path(root)}/spool", "echo", "--threads", "1"],
            "spool-2-rings": [f"{bin_path(root)}/spool", "echo", "--threads", "2"],
            "c-liburing": [f"{work}/echo_uring"],
        }
        workloads = [(64, 64), (64, 4096)]
    if args.portable:
        servers = {
            "spool-portable": ["env", "SPOOL_BACKEND=portable", f"{bin_path(root)}/spool", "echo", "--threads", "1"],
            "c-epoll": [f"{work}/echo_epoll"],
            "swiftnio": [f"{bin_path(here)}/nio-echo"],
        }
        workloads = [(64, 64), (64, 4096), (1, 64)]
    if args.setup:
        return setup(args, servers, work)
    if args.hostile:
        return hostile(args, root, work)
    results = {}  # (workload, server) -> list of dicts
    names = list(servers)
    for conns, size in workloads:
        for rep in range(args.reps):
            order = names[rep % len(names):] + names[:rep % len(names)]
            for name in order:
                p, port = start(servers[name], pin)
                out = subprocess.run((["taskset", "-c", "1"] if pin else []) + [f"{work}/echo_load", str(port), str(conns), str(size),
                                      str(args.seconds), str(args.warmup), str(p.pid)], capture_output=True, text=True)
                stop(p)
                if out.returncode != 0:
                    raise SystemExit(f"{name} {conns}x{size}: load generator failed: {out.stdout}{out.stderr}")
                row = dict(kv.split("=") for kv in out.stdout.split())
                row = {k: float(v) for k, v in row.items()}
                results.setdefault((conns, size), {}).setdefault(name, []).append(row)
                print(f"  {conns:>3} x {size:>4} B  {name:<11} {row['msgs_per_s']:>9.0f} msg/s  "
                      f"cpu {row['cpu_us_per_msg']:.2f} µs/msg", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)

    def med(rows, key):
        return statistics.median(r[key] for r in rows)

    table = []
    print()
    print("| workload | server | msgs/s | p50 µs | p99 µs | server CPU µs/msg | of which user | msgs per CPU-s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for (conns, size), by in results.items():
        for name in names:
            rows = by[name]
            cpu = med(rows, "cpu_us_per_msg")
            entry = {"connections": conns, "size": size, "server": name, "msgs_per_s": med(rows, "msgs_per_s"),
                     "p50_us": med(rows, "p50_us"), "p99_us": med(rows, "p99_us"), "cpu_us_per_msg": cpu,
                     "user_us_per_msg": med(rows, "user_us_per_msg"),
                     "msgs_per_cpu_s": 1e6 / cpu if cpu > 0 else 0, "runs": rows}
            table.append(entry)
            print(f"| {conns} × {size} B | {name} | {entry['msgs_per_s']:.0f} | {entry['p50_us']:.1f} | {entry['p99_us']:.1f} "
                  f"| {cpu:.2f} | {entry['user_us_per_msg']:.2f} | {entry['msgs_per_cpu_s']:.0f} |")
    print()
    def ratio(by, key, a, b):
        """Median over repetitions of by[a][i][key] / by[b][i][key] (same repetition)."""
        return statistics.median(x[key] / y[key] for x, y in zip(by[a], by[b]) if y[key] > 0)

    def ratio_table(columns):
        """Prints a table of `columns` (name, header, numerator server, denominator server, key)
        per workload, stores it in the JSON and writes the JSON if asked."""
        print("| workload | " + " | ".join(c[1] for c in columns) + " |")
        print("|---|" + "---:|" * len(columns))
        ratios = []
        for (conns, size), by in results.items():
            r = {"connections": conns, "size": size}
            for name, _, a, b, key in columns:
                r[name] = ratio(by, key, a, b)
            ratios.append(r)
            print(f"| {conns} × {size} B | " + " | ".join(f"{r[c[0]]:.2f}" for c in columns) + " |")
        table.append({"ratios": ratios})
        if args.json:
            with open(args.json, "w") as f:
                json.dump(table, f, indent=1)

    if args.portable:
        ratio_table([
            ("spool_cpu_over_nio", "Spool CPU/msg ÷ SwiftNIO's (target ≤ 1)", "spool-portable", "swiftnio", "cpu_us_per_msg"),
            ("spool_cpu_over_c", "Spool CPU/msg ÷ C epoll's", "spool-portable", "c-epoll", "cpu_us_per_msg"),
            ("spool_rate_over_nio", "Spool msgs/s ÷ SwiftNIO's", "spool-portable", "swiftnio", "msgs_per_s")])
        return

    if args.rings:
        ratio_table([
            ("throughput_2_over_1", "2 rings ÷ 1 ring: msgs/s", "spool-2-rings", "spool-1-ring", "msgs_per_s"),
            ("cpu_2_over_1", "2 rings ÷ 1 ring: server CPU µs/msg", "spool-2-rings", "spool-1-ring", "cpu_us_per_msg"),
            ("cpu_1_over_c", "1 ring CPU/msg ÷ C's", "spool-1-ring", "c-liburing", "cpu_us_per_msg")])
        return

    print("| workload | Spool CPU/msg ÷ C's (target ≤ 1.15) | Spool msgs per CPU-s ÷ SwiftNIO's (target ≥ 2) | the same, user CPU only | C's msgs per CPU-s ÷ SwiftNIO's |")
    print("|---|---:|---:|---:|---:|")
    ratios = []
    for (conns, size), by in results.items():
        r = {"connections": conns, "size": size,
             "spool_cpu_over_c": ratio(by, "cpu_us_per_msg", "spool", "c-liburing"),
             "nio_cpu_over_spool": ratio(by, "cpu_us_per_msg", "swiftnio", "spool"),
             "nio_user_over_spool": ratio(by, "user_us_per_msg", "swiftnio", "spool"),
             "nio_cpu_over_c": ratio(by, "cpu_us_per_msg", "swiftnio", "c-liburing")}
        ratios.append(r)
        print(f"| {conns} × {size} B | {r['spool_cpu_over_c']:.2f} | {r['nio_cpu_over_spool']:.2f} | "
              f"{r['nio_user_over_spool']:.2f} | {r['nio_cpu_over_c']:.2f} |")
    table.append({"ratios": ratios})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(table, f, indent=1)

def setup(args, servers, work):
    """Connection setup: server CPU per connection (median of the repetitions, servers in
    rotating order), then allocations per connection with the malloc counter preloaded."""
    names = list(servers)
    rows = {name: [] for name in names}
    for rep in range(args.reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            p, port = start(servers[name])
            out = subprocess.run(["taskset", "-c", "1", f"{work}/connect_load", str(port), "2", "64",
                                  str(args.seconds), str(args.warmup), str(p.pid)], capture_output=True, text=True)
            stop(p)
            if out.returncode != 0:
                raise SystemExit(f"{name}: connect_load failed: {out.stdout}{out.stderr}")
            row = {k: float(v) for k, v in (kv.split("=") for kv in out.stdout.split())}
            rows[name].append(row)
            print(f"  setup  {name:<11} {row['conns_per_s']:>7.0f} conn/s  cpu {row['cpu_us_per_conn']:.2f} µs/conn", file=sys.stderr)
    allocations = {}
    for name in names:
        counter = f"{work}/count-{name}"
        p, port = start(servers[name], env={"LD_PRELOAD": f"{work}/malloc_count.so", "MALLOC_COUNT_FILE": counter})
        time.sleep(0.3)
        before = struct.unpack("<Q", open(counter, "rb").read(8))[0]
        out = subprocess.run(["taskset", "-c", "1", f"{work}/connect_load", str(port), "2", "64", "2", "0.5", str(p.pid)],
                             capture_output=True, text=True)
        time.sleep(0.3)
        after = struct.unpack("<Q", open(counter, "rb").read(8))[0]
        stop(p)
        total = float(dict(kv.split("=") for kv in out.stdout.split())["total"])
        allocations[name] = (after - before) / total
    shutil.rmtree(work, ignore_errors=True)
    med = lambda name, key: statistics.median(r[key] for r in rows[name])
    print()
    print("| server | connections/s | server CPU µs/conn | of which user | allocations/conn |")
    print("|---|---:|---:|---:|---:|")
    table = []
    for name in names:
        entry = {"server": name, "conns_per_s": med(name, "conns_per_s"), "cpu_us_per_conn": med(name, "cpu_us_per_conn"),
                 "user_us_per_conn": med(name, "user_us_per_conn"), "allocations_per_conn": allocations[name], "runs": rows[name]}
        table.append(entry)
        print(f"| {name} | {entry['conns_per_s']:.0f} | {entry['cpu_us_per_conn']:.2f} | {entry['user_us_per_conn']:.2f} | {allocations[name]:.1f} |")
    ratio = lambda a, b: statistics.median(x["cpu_us_per_conn"] / y["cpu_us_per_conn"] for x, y in zip(rows[a], rows[b]))
    r = {"spool_cpu_over_c": ratio("spool", "c-liburing"), "spool_cpu_over_nio": ratio("spool", "swiftnio")}
    table.append({"ratios": r})
    print()
    print(f"Spool CPU/conn ÷ C's (target ≤ 1.10): {r['spool_cpu_over_c']:.2f}; ÷ SwiftNIO's: {r['spool_cpu_over_nio']:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(table, f, indent=1)

def never_reading_peer(port, stop_event):
    """A peer that sends 1 KiB segments and never reads (its sends block once the window shuts)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(0.2)
    segment = bytes(1024)
    while not stop_event.is_set():
        try:
            s.send(segment)
        except socket.timeout:
            pass
    s.close()

def hostile(args, root, work):
    """8 echo connections' throughput beside a never-reading peer ÷ alone, per backend (1 ring)."""
    spool = f"{bin_path(root)}/spool"
    backends = {"io_uring": {}, "portable": {"SPOOL_BACKEND": "portable"}}
    rows = {}
    for rep in range(args.reps):
        for backend, env in backends.items():
            for beside in (False, True):
                p, port = start([spool, "echo", "--threads", "1"], env=env)
                stop_event = threading.Event()
                peer = None
                if beside:
                    peer = threading.Thread(target=never_reading_peer, args=(port, stop_event))
                    peer.start()
                    time.sleep(0.5)  # its window shuts and its sends back up into the server
                out = subprocess.run(["taskset", "-c", "1", f"{work}/echo_load", str(port), "8", "64",
                                      str(args.seconds), str(args.warmup), str(p.pid)], capture_output=True, text=True)
                stop_event.set()
                if peer:
                    peer.join()
                stop(p)
                if out.returncode != 0:
                    raise SystemExit(f"{backend}: echo_load failed: {out.stdout}{out.stderr}")
                row = {k: float(v) for k, v in (kv.split("=") for kv in out.stdout.split())}
                rows.setdefault((backend, beside), []).append(row)
                print(f"  {backend:<9} {'beside a never-reading peer' if beside else 'alone':<28} {row['msgs_per_s']:>8.0f} msg/s", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)
    print()
    print("| backend | 8 × 64 B alone: msgs/s | beside a never-reading peer | ratio (target ≥ 0.80) |")
    print("|---|---:|---:|---:|")
    table = []
    for backend in backends:
        alone, beside = rows[(backend, False)], rows[(backend, True)]
        ratio = statistics.median(b["msgs_per_s"] / a["msgs_per_s"] for a, b in zip(alone, beside))
        table.append({"backend": backend, "alone": alone, "beside": beside, "ratio": ratio})
        print(f"| {backend} | {statistics.median(r['msgs_per_s'] for r in alone):.0f} | "
              f"{statistics.median(r['msgs_per_s'] for r in beside):.0f} | {ratio:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(table, f, indent=1)

main()
