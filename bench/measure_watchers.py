"""Many watchers on one Berth: private memory a watcher costs, CPU between events, and the time from an engine event to
the last watcher beside a watcher of the engine's own /events, for each size, in one run."""
import argparse
import http.client
import json
import os
import re
import selectors
import socket
import subprocess
import time

from measure import UnixConnection, post_form, private_mib, sign_in

BATCH = 500
HEARTBEAT = 15  # Berth's default: every idle stream gets one in this time


def percentile(values, share):
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * share // 100) - 1)] if ordered else float("nan")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def engine_connections(pid, engine_path):
    """Unix connections Berth holds to the engine's socket (as in measure_streams)."""
    out = subprocess.run(["ss", "-xpn"], capture_output=True, text=True).stdout
    rows = [line.split() for line in out.splitlines()[1:]]
    engine_ends = {fields[5] for fields in rows if len(fields) > 7 and fields[4] == engine_path}
    return sum(1 for fields in rows if len(fields) > 8 and fields[7] in engine_ends and f"pid={pid}," in fields[8])


class Watchers:
    """Open event streams, all read by one selector so that none falls behind."""

    def __init__(self, port, session):
        self.port = port
        self.session = session
        self.selector = selectors.DefaultSelector()
        self.buffers = {}
        self.kinds = {}
        # Streams not yet open keep all they got: a screen's first read (its recent events and table) can be larger
        # than the tail kept of an open stream, and would cut off the opening comment.
        self.opening = set()

    def open(self, paths, kind, cookie=None):
        """Opens one stream per path, a batch at a time (the listen queue is finite), each until its opening comment."""
        for start in range(0, len(paths), BATCH):
            pending = set()
            for path in paths[start:start + BATCH]:
                s = socket.create_connection(("127.0.0.1", self.port))
                s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                           f"Cookie: {cookie or self.session}\r\n\r\n").encode())
                s.setblocking(False)
                self.selector.register(s, selectors.EVENT_READ)
                self.buffers[s] = b""
                self.kinds[s] = kind
                self.opening.add(s)
                pending.add(s)
            deadline = time.time() + 60
            while pending and time.time() < deadline:
                for s, data, _ in self.read(1):
                    if s in pending and not data:
                        raise SystemExit("a stream closed before it opened")
                    if s in pending and b"stream open" in self.buffers[s]:
                        if not self.buffers[s].startswith(b"HTTP/1.1 200"):
                            raise SystemExit(f"a stream was refused: {self.buffers[s][:200]!r}")
                        pending.discard(s)
                        self.opening.discard(s)
                        self.buffers[s] = b""
            if pending:
                raise SystemExit(f"{len(pending)} streams did not open")

    def read(self, timeout):
        """What arrived on every registered socket (a stream's last bytes are kept in `buffers`), as (socket, bytes,
        time); a stream that closed comes once with no bytes and is dropped."""
        arrived = []
        for key, _ in self.selector.select(timeout=timeout):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            now = time.perf_counter()
            if not data:
                self.selector.unregister(s)
                s.close()
                self.buffers.pop(s, None)
                self.kinds.pop(s, None)
                self.opening.discard(s)
            elif s in self.opening:
                self.buffers[s] += data
            elif s in self.buffers:
                self.buffers[s] = (self.buffers[s] + data)[-4096:]
            arrived.append((s, data, now))
        return arrived

    def drain(self, seconds):
        until = time.time() + seconds
        while time.time() < until:
            self.read(0.2)

    def count(self, kind=None):
        return sum(1 for k in self.kinds.values() if kind is None or k == kind)

    def close(self):
        for s in list(self.kinds):
            self.selector.unregister(s)
            s.close()
        self.buffers.clear()
        self.kinds.clear()


def create_container(socket_path, name):
    connection = UnixConnection(socket_path)
    body = json.dumps({"Image": "busybox", "Cmd": ["true"], "Labels": {"berth.bench-watchers": "1"},
                       "HostConfig": {"NetworkMode": "none"}})
    connection.request("POST", f"/containers/create?name={name}", body=body,
                       headers={"Host": "docker", "Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    assert response.status == 201, response.status
    connection.close()


WARM = 100


def idle(args, session, size):
    """Private memory and CPU of SIZE idle event watchers, after each has had a heartbeat. A hundred opened first
    stay open: what the first streams allocate once (caches, the ticker, the engine's shared events) is not a
    watcher's."""
    watchers = Watchers(args.port, session)
    watchers.open(["/events/stream?type=container&action=create"] * WARM, "events")
    watchers.drain(HEARTBEAT + 2)
    before = private_mib(args.pid)
    watchers.open(["/events/stream?type=container&action=create"] * size, "events")
    watchers.drain(HEARTBEAT + 2)
    cpu = cpu_seconds(args.pid)
    watchers.drain(HEARTBEAT)
    cpu = cpu_seconds(args.pid) - cpu
    after = private_mib(args.pid)
    open_now = watchers.count() - WARM
    watchers.close()
    return before, after, open_now, cpu / HEARTBEAT


def share_link(port, session):
    """A dashboard of the bench's containers (status and events) and one share link to it, as its owner makes them in
    the browser; the cookie a screen gets for the link, and the dashboard's stream path."""
    status, location, _ = post_form(port, session, "/dashboards", [
        ("title", "Wall"), ("kind", "labels"), ("selection", "berth.bench-watchers=1"), ("showStatus", "on"),
        ("showEvents", "on")])
    assert status == 303, status
    dashboard = location.rsplit("/", 1)[1]
    status, _, page = post_form(port, session, f"/dashboards/{dashboard}/links", [("label", "wall"), ("expiresIn", "86400")])
    assert status == 201, status
    token = re.search(r"/s/([^\"<\s]+)", page).group(1)
    connection = http.client.HTTPConnection("127.0.0.1", port)
    connection.request("GET", f"/s/{token}")
    response = connection.getresponse()
    response.read()
    assert response.status == 303, response.status
    cookie = "; ".join(c.split(";")[0] for c in response.headers.get_all("Set-Cookie"))
    return cookie, f"/shared/{dashboard}/stream"


def mixed(args, session, size):
    """SIZE watchers: 15 % stats of the 50 containers, 15 % logs of the 20, 10 % screens of one dashboard through one
    share link (a wall), the rest events; five engine events, each timed from the engine's own watcher to every Berth
    events watcher."""
    stats = args.stats.split(",")
    logs = args.logs.split(",")
    n_stats = size * 15 // 100
    n_logs = size * 15 // 100
    n_screens = size // 10
    n_events = size - n_stats - n_logs - n_screens
    link_cookie, screen_path = share_link(args.port, args.owner_session)
    engine_path = args.docker_host.replace("unix://", "")
    watchers = Watchers(args.port, session)
    before_connections = engine_connections(args.pid, engine_path)
    before = private_mib(args.pid)
    watchers.open(["/events/stream?type=container&action=create"] * n_events, "events")
    watchers.open([f"/containers/{stats[i % len(stats)]}/stats/stream" for i in range(n_stats)], "stats")
    watchers.open([f"/logs/stream?container={logs[i % len(logs)]}&tail=0" for i in range(n_logs)], "logs")
    watchers.open([screen_path] * n_screens, "screens", cookie=link_cookie)
    watchers.drain(3)
    connections = engine_connections(args.pid, engine_path)
    memory = private_mib(args.pid)

    raw = UnixConnection(engine_path)
    raw.request("GET", '/events?filters={"type":["container"],"event":["create"]}', headers={"Host": "docker"})
    raw_response = raw.getresponse()
    raw_socket = raw.sock
    raw_socket.setblocking(False)
    watchers.selector.register(raw_socket, selectors.EVENT_READ)

    # While the events are timed the client reads only the events watchers: the others' few bytes (a stats sample a
    # second, a log line every two) wait in their sockets' buffers, which hold far more, and are read after. Berth's
    # work is the same; the one Python client's, which shares the two cores with it, is not in the figures.
    quiet = [s for s, kind in watchers.kinds.items() if kind != "events"]
    for s in quiet:
        watchers.selector.unregister(s)
    cpu = cpu_seconds(args.pid)
    client_cpu = time.process_time()
    delays = []
    lasts = []
    missed = 0
    for round_ in range(5):
        name = f"bench-watch-{os.getpid()}-{size}-{round_}"
        marker = name.encode()
        waiting = {s for s, kind in watchers.kinds.items() if kind == "events"}
        sent = time.perf_counter()
        create_container(engine_path, name)
        engine_seen = None
        raw_buffer = b""
        arrivals = []
        deadline = time.time() + 30
        while (waiting or engine_seen is None) and time.time() < deadline:
            for s, data, now in watchers.read(0.5):
                if s is raw_socket:
                    raw_buffer += data
                    if engine_seen is None and marker in raw_buffer:
                        engine_seen = now
                elif s in waiting and (not data or marker in watchers.buffers[s]):
                    if data:
                        arrivals.append(now)
                    waiting.discard(s)
        missed += len(waiting)
        reference = engine_seen or sent
        delays += [(t - reference) * 1000 for t in arrivals]
        lasts.append((max(arrivals) - reference) * 1000 if arrivals else float("nan"))
        watchers.drain(2)
    client_cpu = time.process_time() - client_cpu
    cpu = cpu_seconds(args.pid) - cpu
    watchers.selector.unregister(raw_socket)
    raw.close()
    for s in quiet:
        watchers.selector.register(s, selectors.EVENT_READ)
    watchers.drain(3)
    counts = (watchers.count("events"), watchers.count("stats"), watchers.count("logs"), watchers.count("screens"))
    watchers.close()
    return counts, before_connections, connections, (before, memory), delays, lasts, missed, (cpu, client_cpu)


def main():
    parser = argparse.ArgumentParser()
    for name in ["user", "password", "owner", "owner-password", "docker-host", "mode", "stats", "logs"]:
        parser.add_argument("--" + name, required=True)
    for name in ["port", "pid", "size"]:
        parser.add_argument("--" + name, type=int, required=True)
    args = parser.parse_args()
    session = sign_in(args.port, args.user, args.password)
    args.owner_session = sign_in(args.port, args.owner, args.owner_password)
    size = args.size
    if args.mode == "idle":
        before, after, open_now, cpu = idle(args, session, size)
        print(f"  idle {size:>6}: {open_now} open; private {before:.1f} -> {after:.1f} MiB, "
              f"{(after - before) * 1024 / size:.1f} KiB a watcher; CPU {cpu * 1000:.1f} ms/s between events", flush=True)
    else:
        counts, before_connections, connections, memory, delays, lasts, missed, cpu = mixed(args, session, size)
        print(f"  mixed {size:>5}: {counts[0]} events, {counts[1]} stats, {counts[2]} logs, {counts[3]} dashboard screens open; "
              f"CPU over the five events: Berth {cpu[0]:.2f} s, the client {cpu[1]:.2f} s; engine connections "
              f"{before_connections} before, {connections} while they listen; private {memory[0]:.1f} -> {memory[1]:.1f} MiB, "
              f"{(memory[1] - memory[0]) * 1024 / size:.1f} KiB a watcher")
        print(f"          after the engine's own watcher: median {percentile(delays, 50):.0f} ms, p99 "
              f"{percentile(delays, 99):.0f} ms, last per event {', '.join(f'{v:.0f}' for v in lasts)} ms; missed {missed}",
              flush=True)


if __name__ == "__main__":
    main()
