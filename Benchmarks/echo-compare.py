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

Usage (from Benchmarks/):  python3 echo-compare.py [--rings | --portable] [--reps 3] [--seconds 4] [--warmup 1] [--json FILE]
Needs liburing's headers for the C io_uring peer (Debian: apt-get install liburing-dev), except with --portable."""
import argparse, json, os, re, shutil, signal, statistics, subprocess, sys, tempfile, time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)

def run(cmd, cwd=None):
    subprocess.run(cmd, cwd=cwd, check=True)

def bin_path(cwd):
    return subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()

def start(server_cmd, pin=True):
    p = subprocess.Popen((["taskset", "-c", "0"] if pin else []) + server_cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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

main()
