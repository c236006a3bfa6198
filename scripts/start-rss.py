#!/usr/bin/env python3
"""Start time and idle RSS of keel binaries, as `make run` uses them (SQLite).

usage: scripts/start-rss.py [-n RUNS] [-idle SECONDS] [-fresh 1] [-pg URL] BINARY...

Each binary runs in a folder of its own, the binaries in turn (its data/keel.db migrated by a first,
unmeasured run), on a free port. -fresh 1 starts every run on a new, empty database instead (the
harness's case: exec to first 200 includes every migration). -pg URL runs on PostgreSQL instead of
SQLite: a new database on URL's server for every binary (or every run, with -fresh 1), made and dropped
with psql. Start time is from just before exec to the
first 200 from GET /healthz, polled every millisecond (the "listening" log line
is buffered for up to 100 ms, so it cannot be timed from stdout). Idle RSS is
VmRSS after the last run has sat idle for -idle seconds. Prints medians.
"""
import http.client, os, shutil, socket, statistics, subprocess, sys, tempfile, time, urllib.parse

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def healthy(port):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=0.2)
        c.request("GET", "/healthz"); ok = c.getresponse().status == 200; c.close(); return ok
    except OSError:
        return False

def start(binary, cwd, dburl=None):
    port = free_port()
    env = dict(os.environ, ADDR=f"127.0.0.1:{port}", LOG_LEVEL="warn",
               JWT_SECRET="start-rss-0123456789abcdef0123456789abcdef")
    env.pop("DATABASE_URL", None)
    if dburl:
        env["DATABASE_URL"] = dburl
    t0 = time.perf_counter()
    p = subprocess.Popen([binary], cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not healthy(port):
        if p.poll() is not None or time.perf_counter() - t0 > 10:
            sys.exit(f"{binary} did not start")
        time.sleep(0.001)
    return p, (time.perf_counter() - t0) * 1000

def stop(p):
    p.terminate(); p.wait(10)

def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

args = sys.argv[1:]
runs, idle, fresh, pg = 10, 10.0, False, None
while args and args[0].startswith("-"):
    flag, val, args = args[0], args[1], args[2:]
    if flag == "-n": runs = int(val)
    elif flag == "-idle": idle = float(val)
    elif flag == "-fresh": fresh = val not in ("0", "")
    elif flag == "-pg": pg = val
# Rounds interleave the binaries, so that load from elsewhere on the machine
# falls on all of them alike.
bins = [os.path.abspath(b) for b in args]
cwds = {b: tempfile.mkdtemp(prefix="keel-start-") for b in bins}
made = []
def new_db(b, i):
    """A database for binary b's run i: None (data/keel.db in its folder) or a PostgreSQL URL."""
    if not pg:
        if fresh:
            shutil.rmtree(os.path.join(cwds[b], "data"), ignore_errors=True)
        return None
    name = f"keel_start_{os.getpid()}_{bins.index(b)}_{i if fresh else 0}"
    if name not in made:
        subprocess.run(["psql", "-q", pg, "-c", f"CREATE DATABASE {name}"], check=True)
        made.append(name)
    u = urllib.parse.urlsplit(pg)
    return urllib.parse.urlunsplit(u._replace(path="/" + name))
try:
    if not fresh:
        for b in bins:
            stop(start(b, cwds[b], new_db(b, 0))[0])  # creates and migrates the database
    times = {b: [] for b in bins}
    for i in range(runs):
        for b in bins:
            p, ms = start(b, cwds[b], new_db(b, i + 1)); times[b].append(ms); stop(p)
    procs = {b: start(b, cwds[b], new_db(b, runs + 1))[0] for b in bins}
    time.sleep(idle)
    for b in bins:
        rss = rss_mb(procs[b].pid); stop(procs[b]); t = times[b]
        print(f"{os.path.basename(b)}: start to first 200 median {statistics.median(t):.1f} ms "
              f"(min {min(t):.1f}, max {max(t):.1f}, n={runs}{', fresh database' if fresh else ''}); "
              f"idle RSS after {idle:.0f} s {rss:.1f} MB")
finally:
    for name in made:
        subprocess.run(["psql", "-q", pg, "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])
