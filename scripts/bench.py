#!/usr/bin/env python3
"""make bench: evpnscope against the reference tools on the same files, A/B alternating.

Prints and writes reports/bench.md: medians, MB/s, routes/s, peak RSS and ratios. Sizes are
set by BENCH_SCALE (100 = the 1 million MAC fabric of issue 6; smaller for a quick run) and
BENCH_RUNS (repetitions per command).
"""
import json
import collections, sqlite3, os, resource, shutil, statistics, subprocess, sys, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build/release/evpnscope")
ENGINE_BENCH = os.path.join(ROOT, ".build/release/evpnscope-enginebench")
DATA = os.path.join(ROOT, ".bench-data")
VENV = os.path.join(ROOT, ".venv-bench")
PUBLIC = os.path.join(ROOT, "..", "shared", "datasets", "public")
SCALE = int(os.environ.get("BENCH_SCALE", "100"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
# BENCH_ONLY=real,bzip2,fabric,bmp,engine,evpn,grow,collect runs a subset (default: all); its sections
# take the place of theirs in reports/bench.md, and the others stay.
ALL_SECTIONS = {"real", "bzip2", "fabric", "bmp", "engine", "evpn", "grow", "collect"}
ONLY = set(os.environ.get("BENCH_ONLY", ",".join(sorted(ALL_SECTIONS))).split(","))


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, **kw)


def ensure_tools():
    missing = [p for p, t in (("bgpdump", "bgpdump"), ("time", "/usr/bin/time")) if not shutil.which(t)]
    if missing:
        sudo = "" if os.geteuid() == 0 else "sudo "
        # A fresh machine has no package lists yet.
        sh(f"{sudo}apt-get update -qq && {sudo}apt-get install -y -qq " + " ".join(missing) + " >/dev/null")
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        sh(f"python3 -m venv {VENV}")
        sh(f"{VENV}/bin/pip install -q mrtparse")
        # Only the 0.6.2 wheel installs here; newer versions build from source.
        sh(f"{VENV}/bin/pip install -q --only-binary=:all: pybgpkit-parser")
    return py


Result = collections.namedtuple("Result", "wall rss out cpu main_cpu")


class MainThreadClock:
    """Samples the CPU time of the evpnscope process's main thread under `pid` (GNU time's
    child) every 0.1 s while the command runs: the replay runs there, so this time is what the
    command needs on any number of cores. The last sample before exit, so a little short."""
    def __init__(self, pid):
        self.pid, self.seconds, self.done = pid, 0.0, threading.Event()
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()

    def watch(self):
        tick = os.sysconf("SC_CLK_TCK")
        while not self.done.wait(0.1):
            family = [str(self.pid)]  # the shell, GNU time, the command
            try:
                for pid in family:
                    family += open(f"/proc/{pid}/task/{pid}/children").read().split()
                    if open(f"/proc/{pid}/comm").read().strip() == "evpnscope":
                        fields = open(f"/proc/{pid}/task/{pid}/stat").read().rsplit(")", 1)[1].split()
                        self.seconds = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            except (OSError, ValueError, IndexError):
                pass

    def stop(self):
        self.done.set()
        self.thread.join()
        return self.seconds


def run(cmd, capture=False):
    """Wall time, peak RSS (KiB), output, CPU seconds (user + system) and the main thread's CPU
    seconds of one command. `exec` replaces the shell, and this process stays small, so the
    child's ru_maxrss is the command's own."""
    # GNU time reports the command's own peak RSS (a fork of this Python process would start
    # with Python's); wait4 is the fallback.
    # The previous command's written files (a 3 GB database) must not be flushed during this one.
    os.sync()
    rss_file = os.path.join(DATA, ".rss")
    timed = f"/usr/bin/time -f %M -o {rss_file} " if os.path.exists("/usr/bin/time") else "exec "
    start = time.perf_counter()
    proc = subprocess.Popen(timed + cmd, shell=True, stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    # Only evpnscope's runs are watched: the polling would cost the reference tools a little CPU.
    clock = MainThreadClock(proc.pid) if cmd.startswith(BIN) else None
    out = proc.stdout.read() if capture else b""
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    main_cpu = clock.stop() if clock else 0.0
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"failed ({code}): {cmd}")
    rss = usage.ru_maxrss
    # Linux's wait4 counts the children the command reaped (GNU time's own is one of them).
    cpu = usage.ru_utime + usage.ru_stime
    if timed.startswith("/usr/bin/time"):
        try:
            rss = int(open(rss_file).read().split()[-1])
        except (OSError, ValueError, IndexError):
            pass
    return Result(elapsed, rss, out, cpu, main_cpu)


def measure(commands):
    """commands: list of (label, cmd). Runs them in turn RUNS times (A/B alternating). Per label,
    a Result of medians (wall, CPU, main thread's CPU), the peak RSS and the last output."""
    runs = {label: [] for label, _ in commands}
    for _ in range(RUNS):
        for label, cmd in commands:
            runs[label].append(run(cmd, capture="--json" in cmd or ENGINE_BENCH in cmd))
    return {label: Result(statistics.median(r.wall for r in results), max(r.rss for r in results), results[-1].out,
                          statistics.median(r.cpu for r in results), statistics.median(r.main_cpu for r in results))
            for label, results in runs.items()}


def generate(name, scenario, scale, compression, extra=""):
    out = os.path.join(DATA, name)
    stamp = os.path.join(out, ".done")
    if not os.path.exists(stamp):
        shutil.rmtree(out, ignore_errors=True)
        sh(f"{BIN} generate {scenario} --out {out} --scale {scale} --compression {compression} {extra} >/dev/null")
        open(stamp, "w").close()
    return out


def grow_scenario(factor, minutes):
    """bench.json with `minutes` of churn and nothing else: same MACs, more updates."""
    scenario = os.path.join(DATA, f"grow-{factor}.json")
    spec = json.load(open(os.path.join(ROOT, "datasets/scenarios/bench.json")))
    spec["duration"] = f"{minutes + 2}m"
    spec["episodes"] = [{"type": "churn", "at": "2m", "rate": 200, "until": f"{minutes + 2}m"}]
    json.dump(spec, open(scenario, "w"))
    return scenario


def peak_rss(kib):
    """GNU time's maximum RSS (KiB) as "MiB / MB": the memory target reads the same either way."""
    return f"{kib / 1024:.0f} / {kib * 1024 / 1e6:.0f}"


def size(path):
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs if not f.startswith("."))
    return os.path.getsize(path)


def files(path):
    return " ".join(sorted(os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if not f.startswith(".") and f != "truth.json"))


def main():
    py = ensure_tools()
    os.makedirs(DATA, exist_ok=True)
    lines = ["# evpnscope benchmark", "",
             f"`make bench` on {os.uname().nodename}, {os.cpu_count()} cores; BENCH_SCALE={SCALE}, {RUNS} runs per command, "
             "commands alternated, medians shown. Peak RSS from GNU time (its maximum resident set, in KiB), shown in MiB "
             "(2^20 bytes) and, after the slash, in MB (10^6 bytes). Ratios are evpnscope ÷ reference (lower is faster).", ""]
    def table(title, input_path, results, routes=None, reference=None, note=None):
        lines.append(f"## {title}")
        lines.append("")
        lines.append(f"Input: `{os.path.relpath(input_path, ROOT)}` ({size(input_path) / 1e6:.1f} MB compressed)")
        lines.append("")
        lines.append("| command | median s | CPU s | MB/s (compressed) | routes/s | peak RSS MiB / MB | ratio to "
                     + (reference or "-") + " |")
        lines.append("|---|---|---|---|---|---|---|")
        base = results[reference][0] if reference else None
        for label, (t, r, _, cpu, _) in results.items():
            rate = f"{routes / t / 1e6:.2f} M" if routes and label.startswith("evpnscope") else "-"
            ratio = f"{t / base:.2f}×" if base else "-"
            lines.append(f"| `{label}` | {t:.2f} | {cpu:.1f} | {size(input_path) / 1e6 / t:.1f} | {rate} | {peak_rss(r)} | {ratio} |")
        lines.append("")
        if note:
            lines.extend([note, ""])
        print("\n".join(lines[-(len(results) + 8):]), flush=True)

    # 1. The largest real BGP4MP update dump: unicast decoding against bgpdump, mrtparse, bgpkit.
    real = os.path.join(PUBLIC, "ripe-bgpdump", "updates.et-header.2015.gz")
    if "real" in ONLY:
        real_section(py, real, table)
    if "bzip2" in ONLY:
        bzip2_section(real, table)
    if "fabric" in ONLY:
        fabric_section(table)
    if "bmp" in ONLY:
        bmp_section(table)
    if "engine" in ONLY:
        engine_section(lines)
    if "evpn" in ONLY:
        evpn_section(py, table)
    if "grow" in ONLY:
        grow_section(lines)
    if "collect" in ONLY:
        collect_section(lines)
    write_report(lines)


def sections_of(lines):
    """The lines before the first `## ` title, and each titled section as (title, its lines)."""
    head, sections = [], []
    for line in lines:
        if line.startswith("## "):
            sections.append((line, [line]))
        elif sections:
            sections[-1][1].append(line)
        else:
            head.append(line)
    return head, sections


def write_report(lines):
    """reports/bench.md: the whole run, or, under BENCH_ONLY, the sections re-run put in place of
    theirs in the file (the others are kept, and the header says which ones are new)."""
    path = os.path.join(ROOT, "reports", "bench.md")
    head, sections = sections_of(lines)
    if ONLY != ALL_SECTIONS and os.path.exists(path):
        old_head, old_sections = sections_of(open(path).read().splitlines())
        rerun = dict(sections)
        titles = [title[3:] for title, _ in sections]
        sections = [(title, rerun.pop(title, body)) for title, body in old_sections] + list(rerun.items())
        commit = subprocess.run("git rev-parse --short HEAD", shell=True, cwd=ROOT, capture_output=True, text=True).stdout.strip()
        marker = "Re-run with BENCH_ONLY"
        head = [line for line in old_head if not line.startswith(marker)]
        while head and not head[-1]:
            head.pop()
        head += ["", f"{marker}={','.join(sorted(ONLY))} on {commit}, {time.strftime('%Y-%m-%d')} "
                 f"({os.cpu_count()} cores, {RUNS} run{'s' if RUNS != 1 else ''} per command): " + "; ".join(titles)
                 + ". The other sections are from earlier runs.", ""]
    with open(path, "w") as f:
        f.write("\n".join(head + [line for _, body in sections for line in body]) + "\n")
    print("written reports/bench.md")


def real_section(py, real, table):
    mrtparse = f"{py} -c \"import sys, mrtparse; [0 for _ in mrtparse.Reader(sys.argv[1])]\" {real}"
    bgpkit = f"{py} -c \"import sys, pybgpkit_parser as b; [0 for _ in b.Parser(url=sys.argv[1])]\" {real}"
    results = measure([("zcat", f"zcat {real}"), ("bgpdump -m", f"bgpdump -m {real}"),
                       ("evpnscope decode --format text", f"{BIN} decode --format text {real}"),
                       # Like for like: the same lines as bgpdump -m, byte for byte.
                       ("evpnscope decode --format bgpdump", f"{BIN} decode --format bgpdump {real}"),
                       ("mrtparse", mrtparse), ("pybgpkit-parser 0.6.2", bgpkit)])
    table("Real RIPE update dump (IPv4/IPv6 unicast)", real, results, routes=577740, reference="bgpdump -m")


def bzip2_section(real, table):
    # 1b. The same real records as bzip2 (eight copies: seconds of bzcat, not a fraction): the
    #     block decoders against bzcat, with the parser idle (--family evpn skips unicast NLRI
    #     undecoded) and busy (every route printed).
    bz = os.path.join(DATA, "ripe-updates-x8.mrt.bz2")
    if not os.path.exists(bz):
        sh(f"for i in 1 2 3 4 5 6 7 8; do zcat {real}; done | bzip2 -9 > {bz}.tmp && mv {bz}.tmp {bz}")
    results = measure([("bzcat", f"bzcat {bz}"),
                       ("evpnscope decode --family evpn", f"{BIN} decode --family evpn {bz}"),
                       ("evpnscope decode --format text", f"{BIN} decode --format text {bz}")])
    table("Real RIPE update dump ×8 as bzip2 -9 (unicast: `--family evpn` leaves the parser idle)", bz, results, reference="bzcat")


def fabric_section(table):
    # 2. Generated EVPN fabric: MRT bz2 and gz, analysis against the decompressor floor.
    for compression, tool in (("bz2", "bzcat"), ("gz", "zcat")):
        fabric = generate(f"fabric-s{SCALE}-{compression}", "datasets/scenarios/bench.json", SCALE, compression)
        dumps = os.path.join(fabric, "dumps")
        summary = json.loads(subprocess.run(f"{BIN} analyze {dumps} --db {DATA}/probe.sqlite --report {DATA}/probe.md --events none --json",
                                            shell=True, capture_output=True, check=False).stdout)
        routes = sum(i["route_events"] for i in summary["inputs"])
        commands = [(tool, f"{tool} {files(dumps)}"),
                    ("evpnscope analyze --events none", f"{BIN} analyze {dumps} --db {DATA}/a.sqlite --report {DATA}/a.md --events none"),
                    ("evpnscope analyze", f"{BIN} analyze {dumps} --db {DATA}/b.sqlite --report {DATA}/b.md")]
        results = measure(commands)
        table(f"EVPN fabric, {summary['macs']} MACs, {routes} route events, MRT .{compression}", dumps, results, routes=routes, reference=tool,
              note=default_run_note(results, tool, dumps))


def bmp_section(table):
    # 2b. The same fabric as a BMP stream (.gz) from a route reflector: pre-, post-policy and Loc-RIB.
    fabric = generate(f"fabric-bmp-s{SCALE}-gz", "datasets/scenarios/bench-bmp.json", SCALE, "gz")
    dumps = os.path.join(fabric, "dumps", "bmp")
    summary = json.loads(subprocess.run(f"{BIN} analyze {dumps} --db {DATA}/probe.sqlite --report {DATA}/probe.md --events none --json",
                                        shell=True, capture_output=True, check=False).stdout)
    routes = sum(i["route_events"] for i in summary["inputs"])
    results = measure([("zcat", f"zcat {files(dumps)}"),
                       ("evpnscope analyze --events none", f"{BIN} analyze {dumps} --db {DATA}/a.sqlite --report {DATA}/a.md --events none"),
                       ("evpnscope analyze", f"{BIN} analyze {dumps} --db {DATA}/b.sqlite --report {DATA}/b.md")])
    table(f"EVPN fabric, {summary['macs']} MACs, {routes} route events, BMP .gz", dumps, results, routes=routes, reference="zcat",
          note=default_run_note(results, "zcat", dumps))


def collect_section(lines, senders=10, passes=2):
    """`collect` taking `senders` routers at once, each replaying the fabric's BMP stream (its
    first 64 MB, whole messages) `passes` times: messages/s to disk, and its RSS as the run grows."""
    import gzip, signal, socket, struct, threading
    fabric = generate(f"fabric-bmp-s{SCALE}-gz", "datasets/scenarios/bench-bmp.json", SCALE, "gz")
    source = sorted(os.path.join(d, f) for d, _, fs in os.walk(os.path.join(fabric, "dumps", "bmp")) for f in fs)[0]
    with gzip.open(source) as f:
        raw = f.read(64 << 20)
    at = 0
    while at + 6 <= len(raw) and at + struct.unpack(">I", raw[at + 1:at + 5])[0] <= len(raw):
        at += struct.unpack(">I", raw[at + 1:at + 5])[0]
    first = struct.unpack(">I", raw[1:5])[0]  # the Initiation: each sender says its own name
    body = raw[first:at]
    messages_per_pass = 0
    k = 0
    while k < len(body):
        k += struct.unpack(">I", body[k + 1:k + 5])[0]
        messages_per_pass += 1

    def initiation(name):
        tlv = struct.pack(">HH", 2, len(name)) + name
        return struct.pack(">BIB", 3, 6 + len(tlv), 4) + tlv

    lines.append(f"## `collect`: {senders} routers at once, each sending {len(body) / 1e6:.0f} MB of BMP "
                 f"({messages_per_pass} messages) {passes} times")
    lines.append("")
    lines.append("| archive | messages | seconds | messages/s | MB/s | RSS MiB at 1/4 | at 1/2 | at the end |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for compress in ["gz", "none"]:
        out = os.path.join(DATA, f"collect-{compress}")
        shutil.rmtree(out, ignore_errors=True)
        log = open(os.path.join(DATA, "collect.log"), "w+")
        station = subprocess.Popen([BIN, "collect", "--listen", "127.0.0.1:0", "--out", out, "--compress", compress],
                                   stderr=log, stdout=subprocess.DEVNULL)
        port = None
        for _ in range(100):
            log.seek(0)
            for line in log.read().splitlines():
                if "listening on" in line:
                    port = int(line.split(" port ")[1].split(";")[0])
            if port:
                break
            time.sleep(0.1)
        total = senders * passes * len(body)
        sent = [0] * senders

        def send(index):
            with socket.create_connection(("127.0.0.1", port)) as conn:
                conn.sendall(initiation(f"router-{index}".encode()))
                for _ in range(passes):
                    for offset in range(0, len(body), 1 << 20):
                        chunk = body[offset:offset + (1 << 20)]
                        conn.sendall(chunk)
                        sent[index] += len(chunk)

        rss = {}
        start = time.perf_counter()
        threads = [threading.Thread(target=send, args=(i,)) for i in range(senders)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            progress = sum(sent) / total
            with open(f"/proc/{station.pid}/status") as status:
                kib = int(next(l for l in status if l.startswith("VmRSS")).split()[1])
            for mark in (0.25, 0.5):
                if progress >= mark and mark not in rss:
                    rss[mark] = kib
            rss[1.0] = max(rss.get(1.0, 0), kib)
            time.sleep(0.05)
        station.send_signal(signal.SIGTERM)
        station.wait()
        elapsed = time.perf_counter() - start
        log.seek(0)
        text = log.read()
        received = int(text.split("  total: ")[-1].split()[0])
        expected = senders * (passes * messages_per_pass + 1)
        if received != expected:
            raise SystemExit(f"collect received {received} messages, {expected} sent:\n{text}")
        lines.append(f"| {compress} | {received} | {elapsed:.1f} | {received / elapsed / 1e3:.0f} k | "
                     f"{total / elapsed / 1e6:.0f} | {rss.get(0.25, 0) / 1024:.0f} | {rss.get(0.5, 0) / 1024:.0f} | "
                     f"{rss[1.0] / 1024:.0f} |")
        shutil.rmtree(out, ignore_errors=True)
    lines.extend(["", "Seconds from the first byte sent to the station's exit after SIGTERM (every file closed). "
                  "RSS sampled every 50 ms; the last column is the peak.", ""])
    print("\n".join(lines[-8:]), flush=True)


def default_run_note(results, tool, dumps):
    """Issue 19's goals for the default run (every advertisement stored once): time ≤ 1.25× the
    decompressor on the .bz2 fabric, database ≤ 3× the compressed input. With the CPU seconds
    beside them: on a machine whose cores are all busy, CPU ÷ cores bounds the time from below."""
    database = os.path.join(DATA, "b.sqlite")
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        rows, blocks = db.execute("SELECT sum(events), count(*) FROM route_event_blocks").fetchone()
    reference = results[tool][0]
    cores = os.cpu_count()
    floors = "; ".join(f"`{label}` {results[label].cpu:.1f} s of CPU (so at least {results[label].cpu / cores / reference:.2f}× "
                       f"on {cores} cores), {results[label].main_cpu:.1f} s of it on the main thread"
                       for label in ("evpnscope analyze --events none", "evpnscope analyze"))
    return (f"Default run (`evpnscope analyze`, route events stored once per advertisement: {rows} events in {blocks} compressed blocks): "
            f"{results['evpnscope analyze'][0] / reference:.2f}× {tool}; database {size(database) / 1e6:.0f} MB = "
            f"{size(database) / size(dumps):.2f}× the compressed input ({size(dumps) / 1e6:.0f} MB). "
            f"CPU time, a lower bound whatever the schedule: {floors}.")


def engine_section(lines):
    # 2c. The replay engine alone (issue 3): inputs decoded outside the timed region.
    # On a shared VM one run swings by ±10 %: the rates are medians of at least five runs, with
    # their spread reported beside them.
    small, large = max(SCALE // 10, 1), SCALE
    runs, spreads = [], []
    for scale in (small, large):
        data = generate(f"grow-1-s{scale}", grow_scenario(1, 10), scale, "gz")
        results, rss = [], 0
        for _ in range(max(RUNS, 5)):
            _, r, out, _, _ = run(f"{ENGINE_BENCH} {data}/dumps", capture=True)
            results.append(json.loads(out))
            rss = max(rss, r)
        m = dict(results[-1])
        for key in ("engine_route_events_per_second", "engine_and_detectors_route_events_per_second"):
            m[key] = statistics.median(x[key] for x in results)
        rates = sorted(x["engine_route_events_per_second"] / 1e6 for x in results)
        spreads.append(f"{m['macs']} MACs: " + ", ".join(f"{x:.2f}" for x in rates))
        runs.append((scale, m, rss))
    lines.append("## Replay engine alone (decoding outside the timed region)")
    lines.append("")
    lines.append("| MACs | route events | engine M events/s | engine + detectors M events/s | live routes (PE, BD, MAC, IP) | routes as carried (per observation point) | engine bytes per live route | peak RSS MiB / MB |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for scale, m, rss in runs:
        lines.append(f"| {m['macs']} | {m['route_events']} | {m['engine_route_events_per_second'] / 1e6:.2f} | "
                     f"{m['engine_and_detectors_route_events_per_second'] / 1e6:.2f} | {m['live_routes']} | {m['live_observations']} | "
                     f"{m['bytes_per_live_route']:.0f} | {peak_rss(rss)} |")
    lines.append("")
    lines.append("Engine M events/s of each run (the table gives the median): " + "; ".join(spreads) + ".")
    (_, a, rss_a), (_, b, rss_b) = runs
    per_route = ", ".join(f"{name} {value / b['live_routes']:.1f}" for name, value in b["state_bytes_by_table"].items() if value)
    lines.append("")
    lines.append(f"Engine bytes per live route at {b['macs']} MACs, by table: {per_route}.")
    if b["live_routes"] > a["live_routes"]:
        slope = (rss_b - rss_a) * 1024 / (b["live_routes"] - a["live_routes"])
        carried = (rss_b - rss_a) * 1024 / (b["live_observations"] - a["live_observations"])
        lines.append("")
        lines.append(f"Peak RSS grows by {slope:.0f} bytes per additional live route ({carried:.0f} per route as carried) "
                     "between the two sizes: everything the process holds per route, detectors and buffers included.")
    lines.append("")
    print("\n".join(lines[-11:]), flush=True)


def evpn_section(py, table):
    # 3. EVPN decoding against the Python decoders on one update dump (neither decodes EVPN
    #    NLRI: pybgpkit-parser 0.6.2 yields no element, mrtparse yields records with raw NLRI).
    evpn = generate(f"grow-1-s{max(SCALE // 10, 1)}", grow_scenario(1, 10), max(SCALE // 10, 1), "gz")
    update = sorted(f for f in files(os.path.join(evpn, "dumps")).split() if "/updates." in f)[0]
    results = measure([("zcat", f"zcat {update}"),
                       ("evpnscope decode --family evpn", f"{BIN} decode --family evpn {update}"),
                       ("pybgpkit-parser 0.6.2 (no EVPN output)", f"{py} -c \"import sys, pybgpkit_parser as b; [0 for _ in b.Parser(url=sys.argv[1])]\" {update}"),
                       ("mrtparse (records, NLRI undecoded)", f"{py} -c \"import sys, mrtparse; [0 for _ in mrtparse.Reader(sys.argv[1])]\" {update}")])
    decoded = subprocess.run(f"{BIN} decode --family evpn {update} | wc -l", shell=True, capture_output=True, text=True).stdout.strip()
    table(f"EVPN update dump decoding ({decoded} route events)", update, results, routes=int(decoded), reference="evpnscope decode --family evpn")


def grow_section(lines):
    # 4. Cost per update as the input grows (same MACs, longer churn).
    lines.append(f"## Cost per update as input grows (same {SCALE * 10000} MACs, 200 moves/s for 10, 40 and 160 minutes)")
    lines.append("")
    lines.append("| input | route events | analyze s | ns per route event | peak RSS MiB / MB |")
    lines.append("|---|---|---|---|---|")
    runs = []
    for factor, minutes in ((1, 10), (4, 40), (16, 160)):
        data = generate(f"grow-{factor}-s{SCALE}", grow_scenario(factor, minutes), SCALE, "gz")
        t, r, out, _, _ = measure([("analyze", f"{BIN} analyze {data}/dumps --db {DATA}/g.sqlite --report {DATA}/g.md --events none --json")])["analyze"]
        routes = sum(i["route_events"] for i in json.loads(out)["inputs"])
        runs.append((routes, t))
        lines.append(f"| {factor}× | {routes} | {t:.2f} | {t / routes * 1e9:.1f} | {peak_rss(r)} |")
    lines.append("")
    # Every run starts with the same snapshot and learning burst; the added input is churn (moves),
    # which costs more per event. The marginal cost per added event is what must stay flat.
    (r1, t1), (r4, t4), (r16, t16) = runs
    lines.append(f"Marginal cost per added route event: {(t4 - t1) / (r4 - r1) * 1e9:.0f} ns from 1× to 4×, "
                 f"{(t16 - t4) / (r16 - r4) * 1e9:.0f} ns from 4× to 16×.")
    lines.append("")
    print("\n".join(lines[-9:]))


if __name__ == "__main__":
    main()
