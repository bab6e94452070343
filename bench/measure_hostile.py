"""Four hostile loads at once against one Berth while a signed-in admin browses (issue 17, items 2, 4, 5 and 6):

1. a dashboard with hostile redaction rules over a log of long `a…` lines, watched by share-link viewers;
2. slow-header and idle sockets, past --max-connections, reopened as the server closes them;
3. one session flooding log streams of 20 containers each;
4. readers of a fast log that never read.

Meanwhile an admin (a process of its own, one keep-alive connection) requests four pages in turn every 200 ms and
every 10 s stops and starts a container through the form; afterwards every state change the engine saw must have its
audit row. Prints a table; exits 1 when a target is missed.

One thread drives every hostile socket (`selectors`), so the client stays cheap on a small machine; only the admin
runs beside it, as a process, so that its timings do not wait for this one's interpreter lock.
"""
import argparse
import base64
import errno
import heapq
import http.client
import json
import math
import multiprocessing
import os
import re
import subprocess
import selectors
import socket
import sqlite3
import statistics
import sys
import time
import urllib.parse
from collections import deque
from datetime import datetime, timezone

from measure import UnixConnection, sign_in

HOST = "127.0.0.1"
LINE_MARKER = b',"x":'  # one per log line in a `logs` event (LogStreamRenderer)
SECRET = b"token=abc"
MASK = b"[redacted]"
WITHHELD = b"[line withheld"
GAP = b"event: gap"
CUT_OFF = 5.0  # a request sent less than this long before the loads end and not answered yet is cut off, not failed
ADMIN_PAGES = ["/containers", "/containers/{target}", "/images", "/audit"]


def now():
    return time.monotonic()


def log(message):
    print(f"hostile: {message}", file=sys.stderr, flush=True)


# MARK: - /proc


def private_kib(pid):
    """Private memory: anonymous pages (heap, stacks, every page the process wrote) and swap, what the process really
    costs; 0 once it is gone. Not Private_Dirty, which also counts a just-built or just-copied binary's page-cache pages
    until they are written back (bench/footprint's memory_kib says more)."""
    total = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Anonymous:") or line.startswith("Swap:"):
                    total += int(line.split()[1])
    except OSError:
        pass
    return total


def cpu_seconds(pid):
    """User and system time the process has used."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def accepted_connections(pid, port):
    """Connections to `port` the process holds (accepted, by socket inode), and how many wait in its listen backlog
    (a listening socket's receive queue is its accept queue)."""
    wanted = ":%04X" % port
    inodes = set()
    backlog = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as lines:
                next(lines)
                for line in lines:
                    fields = line.split()
                    if not fields[1].endswith(wanted):
                        continue
                    if fields[3] == "0A":
                        backlog += int(fields[4].split(":")[1], 16)
                    elif fields[9] != "0":  # TIME_WAIT ones have no inode
                        inodes.add(fields[9])
        except OSError:
            continue
    count = 0
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0, backlog
    for fd in descriptors:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            count += 1
    return count, backlog


# MARK: - Setup over plain HTTP (blocking, before the loads)


class Browser:
    """A signed-in person's keep-alive connection, session cookie and CSRF token."""

    def __init__(self, port, session):
        self.port = port
        self.session = session
        self.csrf = None
        self.connection = http.client.HTTPConnection(HOST, port, timeout=60)

    def request(self, method, path, fields=None, cookies=()):
        headers = {"Cookie": "; ".join([self.session, *cookies])}
        body = None
        if fields is not None:
            body = urllib.parse.urlencode(fields)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = f"http://{HOST}:{self.port}"
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        return response, response.read()

    def get_csrf(self, path):
        response, page = self.request("GET", path)
        found = re.search(rb'name="_csrf" value="([^"]+)"', page)
        if response.status != 200 or not found:
            raise SystemExit(f"no CSRF token on {path} ({response.status})")
        self.csrf = found.group(1).decode()


def make_shared_dashboard(port, session, container_name, rules):
    """As an operator: a dashboard of the one container's logs with the hostile rules, and a share link to it."""
    operator = Browser(port, session)
    operator.get_csrf("/dashboards/new")
    response, page = operator.request("POST", "/dashboards", [
        ("_csrf", operator.csrf), ("title", "Hostile redactions"), ("kind", "names"), ("selection", container_name),
        ("showLogs", "on"), ("redactions", "\n".join(rules)),
    ])
    if response.status != 303:
        problems = re.findall(rb"<li>([^<]*)</li>", page)[:5]
        raise SystemExit(f"creating the dashboard failed: {response.status} {problems}")
    dashboard = int(response.getheader("Location").rsplit("/", 1)[1])
    response, page = operator.request("POST", f"/dashboards/{dashboard}/links", [
        ("_csrf", operator.csrf), ("label", "hostile bench"), ("expiresIn", "86400"),
    ])
    found = re.search(rb"/s/([A-Za-z0-9_\-]+)", page)
    if response.status != 201 or not found:
        raise SystemExit(f"making the share link failed: {response.status}")
    operator.connection.close()
    return dashboard, found.group(1).decode()


def exchange_link(port, token):
    """A fresh browser opens the link: the cookie it gets for the dashboard."""
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    connection.request("GET", f"/s/{token}")
    response = connection.getresponse()
    response.read()
    connection.close()
    cookies = [c.split(";")[0] for c in response.headers.get_all("Set-Cookie") or [] if "berth-share=" in c.split(";")[0]]
    if response.status != 303 or not cookies:
        raise SystemExit(f"exchanging the link failed: {response.status}")
    return cookies[0]


# MARK: - The signed-in admin (a process of its own)


def admin_process(port, session, csrf, target, ready, start, stop, results, action_every):
    """Requests the pages in turn every 200 ms over one keep-alive connection; every `action_every` seconds stops
    and starts `target` through the form and follows the redirect to its flash."""
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    reconnects = 0

    def send(method, path, body=None, cookies=()):
        nonlocal connection, reconnects
        headers = {"Cookie": "; ".join([session, *cookies])}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = f"http://{HOST}:{port}"
        for attempt in range(2):
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                return response, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed the kept-alive connection between requests: a browser sends again on a new one.
                connection.close()
                reconnects += 1
                if attempt == 1 or body is not None:
                    raise
            except Exception:
                # A timeout leaves the connection mid-request: the next request needs a new one.
                connection.close()
                reconnects += 1
                raise
        raise AssertionError("unreachable")

    pages = [page.replace("{target}", target) for page in ADMIN_PAGES]
    for page in pages:  # warm-up: templates, caches, the connection
        send("GET", page)
    ready.set()
    start.wait(600)
    samples = []  # (path, seconds, status or error, seconds since the loads began)
    loads_began = now()
    actions = []  # dicts
    index = 0
    next_action = now() + action_every
    next_page = now()
    while not stop.is_set():
        wait = next_page - now()
        if wait > 0:
            time.sleep(wait)
        next_page = max(next_page + 0.2, now())
        if now() >= next_action:
            due = next_action + action_every
            for verb in ("stop", "start"):
                record = {"verb": verb, "started": time.time()}
                began = now()
                try:
                    body = urllib.parse.urlencode({"_csrf": csrf, **({"timeout": "5"} if verb == "stop" else {})})
                    response, _ = send("POST", f"/containers/{target}/{verb}", body=body)
                    record["status"] = response.status
                    flash = [c.split(";")[0] for c in response.headers.get_all("Set-Cookie") or [] if c.startswith("berth-flash=")]
                    record["flash"] = decode_flash(flash[0].split("=", 1)[1]) if flash else None
                    location = response.getheader("Location")
                    if response.status == 303 and location:
                        followed, page = send("GET", location, cookies=flash)
                        record["followed"] = followed.status
                        record["banner_ok"] = b"banner-ok" in page
                except Exception as error:  # noqa: BLE001 - any failure is recorded as the action's result
                    record["error"] = repr(error)
                record["seconds"] = now() - began
                actions.append(record)
            # A pair that took long (a stalled server) is not made up for by pairs back to back.
            next_action = max(due, now() + 2.0)
            continue
        path = pages[index % len(pages)]
        index += 1
        began = now()
        try:
            response, page = send("GET", path)
            status = response.status
            if status == 200 and b'action="/login"' in page and b"password" in page:
                status = "login page"
        except Exception as error:  # noqa: BLE001
            status = repr(error)
        samples.append((path, now() - began, status, began - loads_began))
    connection.close()
    results.send({"samples": samples, "actions": actions, "reconnects": reconnects})
    results.close()


def engine_probe_process(socket_path, start, stop, results):
    """The engine alone, at the same moments: what the admin's container list asks it for (`/containers/json?all=1`),
    every 200 ms on a connection of its own. A page that needs the engine is no faster than the engine's answer."""
    start.wait(600)
    samples = []  # (seconds, seconds since the loads began)
    loads_began = now()
    while not stop.is_set():
        began = now()
        try:
            connection = UnixConnection(socket_path)
            connection.timeout = 30
            connection.request("GET", "/containers/json?all=1", headers={"Host": "docker"})
            connection.getresponse().read()
            connection.close()
            samples.append((now() - began, began - loads_began))
        except Exception:  # noqa: BLE001 - an engine that does not answer shows as a missing sample
            pass
        time.sleep(max(0.0, began + 0.2 - now()))
    results.send(samples)
    results.close()


def decode_flash(value):
    value = value.replace("-", "+").replace("_", "/")
    value += "=" * (-len(value) % 4)
    try:
        kind, _, message = base64.b64decode(value).decode().partition(":")
        return {"kind": kind, "message": message}
    except Exception:  # noqa: BLE001
        return {"kind": "?", "message": value}


# MARK: - The event loop and its connections


class Loop:
    def __init__(self):
        self.selector = selectors.DefaultSelector()
        self.timers = []
        self.sequence = 0

    def at(self, when, callback):
        self.sequence += 1
        heapq.heappush(self.timers, (when, self.sequence, callback))

    def after(self, delay, callback):
        self.at(now() + delay, callback)

    def every(self, interval, callback, until):
        def tick():
            if now() < until:
                callback()
                self.after(interval, tick)
        self.after(0, tick)

    def run_until(self, deadline):
        while True:
            current = now()
            while self.timers and self.timers[0][0] <= current:
                _, _, callback = heapq.heappop(self.timers)
                callback()
            if current >= deadline:
                return
            timeout = min(deadline - current, 0.1)
            if self.timers:
                timeout = min(timeout, max(0.0, self.timers[0][0] - current))
            for key, mask in self.selector.select(timeout=timeout):
                key.data(mask)


class Client:
    """One HTTP/1.1 request on a connection of its own: connect, send, read the head (to `on_head`), then the body
    (to `on_body`) until either side closes. `read=False` sends and then never reads (a stalled reader)."""

    def __init__(self, loop, port, request, on_head=None, on_body=None, on_close=None, rcvbuf=None, read=True):
        self.loop, self.request, self.read = loop, request, read
        self.on_head, self.on_body, self.on_close = on_head, on_body, on_close
        self.head = b""
        self.status = None
        self.headers = {}
        self.closed = False
        self.sent = 0
        self.opened = now()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.setblocking(False)
        self.registered = False
        code = self.sock.connect_ex((HOST, port))
        if code not in (0, errno.EINPROGRESS):
            self.close(f"connect: {errno.errorcode.get(code, code)}")
            return
        loop.selector.register(self.sock, selectors.EVENT_WRITE, self.ready)
        self.registered = True

    def ready(self, mask):
        if mask & selectors.EVENT_WRITE:
            code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                return self.close(f"connect: {errno.errorcode.get(code, code)}")
            try:
                self.sent += self.sock.send(self.request[self.sent:])
            except BlockingIOError:
                return
            except OSError as error:
                return self.close(f"send: {error}")
            if self.sent < len(self.request):
                return
            if self.read:
                self.loop.selector.modify(self.sock, selectors.EVENT_READ, self.ready)
            else:
                self.loop.selector.unregister(self.sock)
                self.registered = False
            return
        try:
            data = self.sock.recv(1 << 18)
        except BlockingIOError:
            return
        except OSError as error:
            return self.close(f"recv: {error}")
        if not data:
            return self.close("eof")
        if self.status is None:
            self.take_head(data)
        elif self.on_body:
            self.on_body(self, data)

    def take_head(self, data):
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            if len(self.head) > 65536:
                self.close("head too large")
            return
        head, rest = self.head[:end].decode("latin-1"), self.head[end + 4:]
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        if self.on_head:
            self.on_head(self)
        if rest and not self.closed and self.on_body:
            self.on_body(self, rest)

    def peek_status(self):
        """The status of a reader that never reads, without taking the bytes from its buffer."""
        if self.closed:
            return "closed"
        try:
            data = self.sock.recv(32, socket.MSG_PEEK)
        except BlockingIOError:
            return None
        except OSError as error:
            return f"error {error.errno}"
        if not data:
            return "closed"
        parts = data.split(b" ", 2)
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else "?"

    def close(self, reason="closed by us"):
        if self.closed:
            return
        self.closed = True
        if self.registered:
            self.loop.selector.unregister(self.sock)
            self.registered = False
        self.sock.close()
        if self.on_close:
            self.on_close(self, reason)


def http_get(path, port, cookie=None, accept=None, close=False):
    lines = [f"GET {path} HTTP/1.1", f"Host: {HOST}:{port}"]
    if accept:
        lines.append(f"Accept: {accept}")
    if cookie:
        lines.append(f"Cookie: {cookie}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Dechunk:
    """Takes the chunked framing off a response body as it comes, so that nothing a chunk boundary splits is missed."""

    def __init__(self):
        self.buffer = b""
        self.left = 0
        self.crlf = False

    def feed(self, data):
        self.buffer += data
        out = []
        while True:
            if self.left:
                piece = self.buffer[:self.left]
                out.append(piece)
                self.left -= len(piece)
                self.buffer = self.buffer[len(piece):]
                if self.left:
                    break
                self.crlf = True
            if self.crlf:
                if len(self.buffer) < 2:
                    break
                self.buffer = self.buffer[2:]
                self.crlf = False
            end = self.buffer.find(b"\r\n")
            if end < 0:
                break
            try:
                size = int(self.buffer[:end].split(b";")[0], 16)
            except ValueError:
                size = 0
            self.buffer = self.buffer[end + 2:]
            if size == 0:
                break
            self.left = size
        return b"".join(out)


class Counter:
    """Counts byte patterns in a stream across read boundaries."""

    def __init__(self, *patterns):
        self.patterns = patterns
        self.counts = {p: 0 for p in patterns}
        self.carry = b""
        self.keep = max(len(p) for p in patterns) - 1

    def feed(self, data):
        joined = self.carry + data
        for pattern in self.patterns:
            self.counts[pattern] += joined.count(pattern) - self.carry.count(pattern)
        self.carry = joined[-self.keep:] if self.keep else b""


# MARK: - Load 1: share-link viewers of the hostile dashboard


class LinkViewers:
    def __init__(self, loop, port, dashboard, cookies, until, max_reconnects=30):
        self.loop, self.port, self.dashboard, self.until = loop, port, dashboard, until
        self.counters = []  # one a connection: a pattern is never pieced together from two streams
        self.statuses = {}
        self.reconnect_statuses = {}
        self.reconnects = 0
        self.max_reconnects = max_reconnects
        self.clients = []
        for cookie in cookies:
            self.open(cookie, first=True)

    def open(self, cookie, first=False):
        if now() >= self.until:
            return
        counter = Counter(LINE_MARKER, SECRET, MASK, WITHHELD, GAP)
        self.counters.append(counter)
        dechunk = Dechunk()

        def on_head(client):
            table = self.statuses if first else self.reconnect_statuses
            table[client.status] = table.get(client.status, 0) + 1
            client.chunked = client.headers.get("transfer-encoding", "").lower() == "chunked"
            if client.status != 200:
                client.close("refused")

        def on_body(client, data):
            counter.feed(dechunk.feed(data) if client.chunked else data)

        def on_close(client, reason):
            if now() < self.until and self.reconnects < self.max_reconnects:
                self.reconnects += 1
                self.loop.after(1.0, lambda: self.open(cookie))

        self.clients.append(Client(self.loop, self.port, http_get(f"/shared/{self.dashboard}/stream", self.port, cookie, "text/event-stream"),
                                   on_head, on_body, on_close))

    def count(self, pattern):
        return sum(counter.counts[pattern] for counter in self.counters)

    def stop(self):
        self.until = 0
        for client in self.clients:
            client.close()


# MARK: - Load 2: slow-header and idle sockets


class HostileSockets:
    """Keeps `slow` sockets that send a partial request head a byte every `interval` s and `idle` ones that say
    nothing open, reopening them as the server closes them, up to `max_opens` in all and never after `until`."""

    HEAD = b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow-headers\r\nAccept: text/html\r\nX-Padding: " + b"p" * 200

    def __init__(self, loop, port, slow, idle, max_opens, until, rate=500, interval=2.0):
        self.loop, self.port, self.until, self.interval = loop, port, until, interval
        self.targets = {"slow": slow, "idle": idle}
        self.open = {"slow": 0, "idle": 0}
        self.opens = 0
        self.max_opens = max_opens
        self.per_tick = max(1, rate // 10)
        self.lifetimes = {"slow": [], "idle": []}
        self.connect_failures = 0
        self.answers = {}  # first status line the server sent before closing, if any
        self.sockets = {}  # fd -> record
        self.sends = deque()
        self.peak_open = 0
        loop.every(0.1, self.top_up, until)
        loop.every(0.05, self.send_due, until)

    def top_up(self):
        budget = self.per_tick
        for kind in ("slow", "idle"):
            while self.open[kind] < self.targets[kind] and budget > 0 and self.opens < self.max_opens:
                self.connect(kind)
                budget -= 1

    def connect(self, kind):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        code = sock.connect_ex((HOST, self.port))
        self.opens += 1
        if code not in (0, errno.EINPROGRESS):
            self.connect_failures += 1
            sock.close()
            return
        record = {"kind": kind, "sock": sock, "established": None, "sent": 0, "closed": False}
        self.sockets[sock.fileno()] = record
        self.open[kind] += 1
        self.peak_open = max(self.peak_open, self.open["slow"] + self.open["idle"])
        self.loop.selector.register(sock, selectors.EVENT_WRITE, lambda mask, r=record: self.ready(r, mask))

    def ready(self, record, mask):
        sock = record["sock"]
        if record["established"] is None:
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self.connect_failures += 1
                return self.finish(record, lifetime=False)
            record["established"] = now()
            self.loop.selector.modify(sock, selectors.EVENT_READ, lambda mask, r=record: self.ready(r, mask))
            if record["kind"] == "slow":
                self.send_byte(record)
            return
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            line = data.split(b"\r\n", 1)[0][:40].decode("latin-1")
            self.answers[line] = self.answers.get(line, 0) + 1
            return
        self.finish(record)

    def send_byte(self, record):
        if record["closed"] or record["sent"] >= len(self.HEAD):
            return
        try:
            record["sent"] += record["sock"].send(self.HEAD[record["sent"]:record["sent"] + 1])
        except BlockingIOError:
            pass
        except OSError:
            return self.finish(record)
        self.sends.append((now() + self.interval, record))

    def send_due(self):
        current = now()
        while self.sends and self.sends[0][0] <= current:
            _, record = self.sends.popleft()
            self.send_byte(record)

    def finish(self, record, lifetime=True):
        if record["closed"]:
            return
        record["closed"] = True
        if lifetime and record["established"] is not None:
            self.lifetimes[record["kind"]].append(now() - record["established"])
        sock = record["sock"]
        self.sockets.pop(sock.fileno(), None)
        self.loop.selector.unregister(sock)
        sock.close()
        self.open[record["kind"]] -= 1

    def oldest_open(self):
        """The age of the oldest socket still open (the server has not closed it yet)."""
        current = now()
        ages = {"slow": 0.0, "idle": 0.0}
        for record in self.sockets.values():
            if record["established"] is not None:
                ages[record["kind"]] = max(ages[record["kind"]], current - record["established"])
        return ages

    def stop(self):
        self.until = 0
        for record in list(self.sockets.values()):
            record["closed"] = True
            self.loop.selector.unregister(record["sock"])
            record["sock"].close()
        self.sockets.clear()


class Probes:
    """Anonymous requests on new connections now and then: past the cap they must get 503 with Retry-After."""

    def __init__(self, loop, port, held, until, interval=0.5):
        self.loop, self.port, self.held = loop, port, held
        # (connections Berth held: the fewer of the samples when sent and when answered, status or failure, has
        # Retry-After). Berth counts a connection when it accepts it, somewhere between the two.
        self.results = []
        self.pending = set()
        self.cut_off = 0
        loop.every(interval, self.probe, until)

    def probe(self):
        held = self.held()

        def on_head(client):
            self.results.append((min(held, self.held()), client.status, "retry-after" in client.headers))
            client.close()

        def on_close(client, reason):
            self.pending.discard(client)
            if client.status is None:
                if reason != "closed by us":
                    self.results.append((min(held, self.held()), reason, False))
                elif now() - client.opened >= CUT_OFF:
                    self.results.append((min(held, self.held()), "no answer", False))
                else:
                    self.cut_off += 1

        client = Client(self.loop, self.port, http_get("/login", self.port, close=True), on_head, None, on_close)
        if not client.closed:
            self.pending.add(client)

    def stop(self):
        for client in list(self.pending):
            client.close()


# MARK: - Load 3: one session flooding log streams


class Flood:
    def __init__(self, loop, port, session, containers, attempts, until, hold, in_flight=16, tail=10):
        self.loop, self.port, self.session = loop, port, session
        self.query = "/logs/stream?tail=%d&" % tail + "&".join("container=" + c for c in containers)
        self.max_attempts, self.until, self.hold, self.max_in_flight = attempts, until, hold, in_flight
        self.started = now()
        self.interval = max(0.05, (until - self.started) * 0.9 / attempts)
        self.attempts = 0
        self.cut_off = 0
        self.in_flight = 0
        self.statuses = {}
        self.without_retry_after = 0
        self.open_streams = 0
        self.peak_open = 0
        self.lines = 0
        self.clients = set()
        loop.every(0.05, self.launch, until)

    def launch(self):
        due = min(self.max_attempts, int((now() - self.started) / self.interval) + 1)
        while self.attempts < due and self.in_flight < self.max_in_flight:
            self.attempt()

    def attempt(self):
        self.attempts += 1
        self.in_flight += 1

        def on_head(client):
            self.in_flight -= 1
            client.counted_head = True
            self.statuses[client.status] = self.statuses.get(client.status, 0) + 1
            if client.status == 200:
                self.open_streams += 1
                client.holding = True
                self.peak_open = max(self.peak_open, self.open_streams)
                self.loop.after(self.hold, client.close)
            else:
                if client.status in (429, 503) and "retry-after" not in client.headers:
                    self.without_retry_after += 1
                client.close()

        def on_body(client, data):
            self.lines += data.count(LINE_MARKER)

        def on_close(client, reason):
            self.clients.discard(client)
            if getattr(client, "holding", False):
                self.open_streams -= 1
            if not getattr(client, "counted_head", False):
                self.in_flight -= 1
                if reason == "closed by us" and now() - client.opened < CUT_OFF:
                    self.cut_off += 1
                    return
                reason = f"no answer in {CUT_OFF:.0f} s" if reason == "closed by us" else reason
                self.statuses[reason] = self.statuses.get(reason, 0) + 1

        client = Client(self.loop, self.port, http_get(self.query, self.port, self.session, "text/event-stream"), on_head, on_body, on_close)
        self.clients.add(client)

    def stop(self):
        self.until = 0
        for client in list(self.clients):
            client.close()


# MARK: - Load 4: stalled readers


class StalledReaders:
    def __init__(self, loop, port, sessions, container, count, rcvbuf=4096):
        self.clients = []
        path = f"/logs/stream?container={container}&tail=all"
        for index in range(count):
            session = sessions[index % len(sessions)]
            self.clients.append(Client(loop, port, http_get(path, port, session, "text/event-stream"), rcvbuf=rcvbuf, read=False))
        self.statuses = {}

    def peek(self):
        self.statuses = {}
        for client in self.clients:
            status = client.peek_status() or "no answer"
            self.statuses[status] = self.statuses.get(status, 0) + 1

    def stop(self):
        for client in self.clients:
            client.close()


# MARK: - Audit check


def engine_state_changes(socket_path, container, since, until):
    """The engine's own start and stop events of the container in [since, until]: (action, unix seconds)."""
    filters = urllib.parse.quote(json.dumps({"container": [container], "event": ["start", "stop"], "type": ["container"]}))
    connection = UnixConnection(socket_path)
    connection.timeout = 30
    connection.request("GET", f"/events?since={int(since)}&until={int(until) + 1}&filters={filters}", headers={"Host": "docker"})
    body = connection.getresponse().read()
    connection.close()
    events = []
    decoder = json.JSONDecoder()
    text = body.decode()
    position = 0
    while position < len(text):
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            break
        event, position = decoder.raw_decode(text, position)
        stamp = event.get("timeNano", event.get("time", 0) * 1e9) / 1e9
        if stamp >= since:
            events.append((event.get("Action") or event.get("status"), stamp))
    return sorted(events, key=lambda e: e[1])


def parse_audit_time(text):
    for pattern in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            continue
    raise ValueError(f"audit time {text!r}")


def audit_rows(database, sql, arguments):
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        return connection.execute(sql, arguments).fetchall()
    finally:
        connection.close()


def pair_actions(events, rows, window=60.0):
    """Each engine state change matched to an unused `ok` row of its action within `window` s: (with, without)."""
    unused = [(action, parse_audit_time(stamp)) for action, stamp in rows]
    matched = 0
    missing = []
    for action, stamp in events:
        wanted = f"container.{action}"
        best = None
        for index, (row_action, row_time) in enumerate(unused):
            if row_action == wanted and abs(row_time - stamp) <= window and (best is None or abs(row_time - stamp) < abs(unused[best][1] - stamp)):
                best = index
        if best is None:
            missing.append((action, stamp))
        else:
            unused.pop(best)
            matched += 1
    return matched, missing, len(unused)


# MARK: - Report


def percentile(sorted_values, fraction):
    if not sorted_values:
        return float("nan")
    # Nearest rank: the smallest value with at least `fraction` of them at or below it.
    index = min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


class Table:
    def __init__(self):
        self.rows = []
        self.missed = []

    def add(self, load, measure, value, target="", ok=None):
        mark = "" if ok is None else ("yes" if ok else "NO")
        if ok is False:
            self.missed.append(f"{load}: {measure}")
        self.rows.append((load, measure, str(value), target, mark))

    def print(self):
        header = ("load", "measure", "value", "target", "ok")
        widths = [max(len(row[i]) for row in self.rows + [header]) for i in range(5)]
        line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |"
        print(line)
        print("| " + " | ".join("-" * w for w in widths) + " |")
        for row in self.rows:
            print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |")


def tally(values):
    counts = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def counts_text(table):
    return ", ".join(f"{key}: {value}" for key, value in sorted(table.items(), key=lambda kv: str(kv[0]))) or "none"


LOADS = ("redaction", "sockets", "flood", "stalled")


def main():
    parser = argparse.ArgumentParser()
    for name in ["socket", "admin", "operator", "viewer", "flood-user", "password", "redact-name", "fast-container",
                 "target", "flood-containers", "database", "berth-flags"]:
        parser.add_argument("--" + name, required=True)
    for name in ["port", "berth-pid", "dockerd-pid", "seconds", "max-connections", "header-timeout", "streams-per-session"]:
        parser.add_argument("--" + name, type=int, required=True)
    parser.add_argument("--loads", default=",".join(LOADS), help="which loads run beside the admin (all four by default)")
    parser.add_argument("--slow", type=int, default=1500)
    parser.add_argument("--idle", type=int, default=1500)
    parser.add_argument("--flood-attempts", type=int, default=360)
    parser.add_argument("--stalled", type=int, default=100)
    parser.add_argument("--viewers", type=int, default=3)
    parser.add_argument("--settle", type=int, default=30, help="seconds after the loads before the last memory sample")
    args = parser.parse_args()
    loads = [load for load in args.loads.split(",") if load]
    if not loads or any(load not in LOADS for load in loads):
        raise SystemExit(f"--loads takes a comma-separated choice of {', '.join(LOADS)}")
    port = args.port
    flood_containers = args.flood_containers.split(",")

    # Everyone signs in before any load: PAM is not what is measured.
    log("signing in")
    admin_session = sign_in(port, args.admin, args.password)
    operator_session = sign_in(port, args.operator, args.password)
    flood_session = sign_in(port, args.flood_user, args.password)
    # Twenty stalled readers a session, under the per-session cap.
    stalled_sessions = [sign_in(port, args.viewer, args.password) for _ in range(max(1, -(-args.stalled // 20)))]
    admin = Browser(port, admin_session)
    admin.get_csrf(f"/containers/{args.target}")
    admin.connection.close()

    rules = ["(a+)+b", "(a|a)*c", "(.*a){12}x", r"token=\S+"]
    if "redaction" in loads:
        dashboard, token = make_shared_dashboard(port, operator_session, args.redact_name, rules)
        viewer_cookies = [exchange_link(port, token) for _ in range(args.viewers)]
        log(f"dashboard {dashboard} with rules {rules}, {args.viewers} link viewers admitted")

    # The admin, warmed up in a process of its own.
    context = multiprocessing.get_context("fork")
    ready, start, stop = context.Event(), context.Event(), context.Event()
    receive, send = context.Pipe(duplex=False)
    admin_worker = context.Process(target=admin_process, args=(port, admin_session, admin.csrf, args.target, ready, start, stop, send, 10.0))
    admin_worker.daemon = True  # never outlives this process, whatever ends it
    admin_worker.start()
    send.close()
    if not ready.wait(120):
        raise SystemExit("the admin's warm-up did not finish in 120 s")
    engine_receive, engine_send = context.Pipe(duplex=False)
    engine_worker = context.Process(target=engine_probe_process, args=(args.socket, start, stop, engine_send))
    engine_worker.daemon = True
    engine_worker.start()
    engine_send.close()

    # Log streams read once (what every stream needs once), then the baseline. Sixteen of them: a wave of streams that
    # has gone trims the allocator 1 s and again 5 s later (ReturnedMemory), and the baseline is taken after both, as
    # the figure after the loads is. (One stream trimmed only when it happened to queue 32 KiB: the baseline was
    # 6 MiB or 29 MiB from run to run.)
    warm_streams = []
    for _ in range(16):
        warm = socket.create_connection((HOST, port), timeout=30)
        warm.sendall(http_get(f"/logs/stream?container={args.fast_container}&tail=100", port, stalled_sessions[0], "text/event-stream"))
        warm.recv(65536)
        warm_streams.append(warm)
    for warm in warm_streams:
        warm.close()
    time.sleep(6)
    # The lowest of five samples a second apart: what a stream or page left behind a moment ago is not the baseline.
    memory_before = None
    for _ in range(5):
        time.sleep(1)
        memory_before = min(private_kib(args.berth_pid), memory_before or 1 << 40)
    heaptrack = None
    if os.environ.get("BENCH_HEAPTRACK"):
        # `-o` first: Debian's heaptrack script reads no option after `-p PID` (it wrote to the working directory).
        heaptrack = subprocess.Popen(["heaptrack", "-o", os.environ["BENCH_HEAPTRACK"], "-p", str(args.berth_pid)])
        time.sleep(5)
    dockerd_before = open_fds(args.dockerd_pid)
    berth_fds_before = open_fds(args.berth_pid)
    berth_cpu_before = cpu_seconds(args.berth_pid)
    client_cpu_before = sum(os.times()[:2])
    log(f"before: Berth private {memory_before / 1024:.1f} MiB, {berth_fds_before} fds; dockerd {dockerd_before} fds; loads: {', '.join(loads)}")

    # The loads, together.
    loop = Loop()
    started_wall = time.time()
    started = now()
    until = started + args.seconds
    start.set()
    running = {}
    samples = {"memory": [], "dockerd": [], "berth_fds": [], "accepted": [], "backlog": []}
    if "redaction" in loads:
        running["viewers"] = LinkViewers(loop, port, dashboard, viewer_cookies, until)
    if "stalled" in loads:
        running["stalled"] = StalledReaders(loop, port, stalled_sessions, args.fast_container, args.stalled)
        loop.after(5.0, running["stalled"].peek)
    if "flood" in loads:
        running["flood"] = Flood(loop, port, flood_session, flood_containers, args.flood_attempts, until, hold=min(30.0, args.seconds / 4))
    # Slow and idle sockets once the streams are in: past the cap only signed-in people get answers.
    max_opens = (args.slow + args.idle) * (args.seconds // max(1, args.header_timeout) + 2)
    if "sockets" in loads:
        def begin_sockets():
            running["sockets"] = HostileSockets(loop, port, args.slow, args.idle, max_opens, until)
            # Past the cap by Berth's own count (sampled each second): sockets the client holds may still wait in the
            # listen backlog, which Berth has not counted.
            running["probes"] = Probes(loop, port, lambda: samples["accepted"][-1] if samples["accepted"] else 0, until)
        loop.after(2.0, begin_sockets)

    def sample():
        if "sockets" in loads:
            accepted, backlog = accepted_connections(args.berth_pid, port)
            samples["accepted"].append(accepted)
            samples["backlog"].append(backlog)
        samples["memory"].append(private_kib(args.berth_pid))
        samples["dockerd"].append(open_fds(args.dockerd_pid))
        samples["berth_fds"].append(open_fds(args.berth_pid))

    loop.every(1.0, sample, until)

    def progress():
        parts = [f"{now() - started:4.0f} s:"]
        if "viewers" in running:
            parts.append(f"link lines {running['viewers'].count(LINE_MARKER)};")
        if "sockets" in running:
            held = running["sockets"].open["slow"] + running["sockets"].open["idle"]
            parts.append(f"hostile sockets {held} (opened {running['sockets'].opens});")
        if "flood" in running:
            parts.append(f"flood {running['flood'].attempts} attempts ({counts_text(running['flood'].statuses)});")
        if samples["memory"]:
            parts.append(f"Berth private {samples['memory'][-1] / 1024:.0f} MiB, {samples['berth_fds'][-1]} fds; dockerd {samples['dockerd'][-1]} fds")
        log(" ".join(parts))

    loop.every(10.0, progress, until)
    loop.run_until(until)

    # The loads end; then what Berth keeps afterwards.
    stop.set()
    socket_ages = running["sockets"].oldest_open() if "sockets" in running else {}
    stalled_statuses = {}
    if "stalled" in running:
        running["stalled"].peek()
        stalled_statuses = dict(running["stalled"].statuses)
    for load in running.values():
        load.stop()
    closed_at = now()
    berth_cpu = cpu_seconds(args.berth_pid) - berth_cpu_before
    client_cpu = sum(os.times()[:2]) - client_cpu_before
    admin_results = receive.recv() if receive.poll(120) else None
    admin_worker.join(30)
    engine_samples = engine_receive.recv() if engine_receive.poll(60) else []
    engine_worker.join(30)
    log(f"loads closed; waiting {args.settle} s for Berth to give memory back")
    while now() < closed_at + args.settle:
        time.sleep(1)
        samples["memory"].append(private_kib(args.berth_pid))
    memory_after = private_kib(args.berth_pid)
    if os.environ.get("BENCH_MALLOC_STATS"):
        out = subprocess.run(["gdb", "-p", str(args.berth_pid), "-batch", "-ex", "call (void) malloc_stats()", "-ex", "call (long long) sqlite3_memory_used()", "-ex", "call (long long) sqlite3_memory_highwater(0)"], capture_output=True, text=True)
        log("gdb: " + " | ".join(l for l in out.stdout.splitlines() if l.startswith("$")))
        subprocess.run(["cp", f"/proc/{args.berth_pid}/smaps", "/tmp/berth-after.smaps"])
        time.sleep(1)
    if heaptrack:
        os.kill(args.berth_pid, 9)
        heaptrack.wait(120)
    dockerd_after = open_fds(args.dockerd_pid)
    berth_fds_after = open_fds(args.berth_pid)
    ended_wall = time.time()

    table = Table()
    try:
        with open(f"/proc/{args.berth_pid}/stat") as stat:
            alive = stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        alive = False
    table.add("berth", "still running after the loads", "yes" if alive else "no (exited or crashed)", "yes", alive)

    # The admin.
    if admin_results is None:
        table.add("admin", "results", "the admin process sent none", "results", False)
        samples_admin, actions, reconnects = [], [], 0
    else:
        samples_admin, actions, reconnects = admin_results["samples"], admin_results["actions"], admin_results["reconnects"]
    times = sorted(seconds * 1000 for _, seconds, _, _ in samples_admin)
    errors = [(path, status) for path, _, status, _ in samples_admin if status != 200]
    table.add("admin", "signed-in pages requested", len(times), "> 0", bool(times))
    table.add("admin", "signed-in page p50", f"{percentile(times, 0.5):.1f} ms")
    table.add("admin", "signed-in page p99", f"{percentile(times, 0.99):.1f} ms", "<= 200 ms", bool(times) and percentile(times, 0.99) <= 200)
    table.add("admin", "signed-in page max", f"{times[-1] if times else float('nan'):.1f} ms")
    slowest = sorted(samples_admin, key=lambda sample: -sample[1])[:5]
    table.add("admin", "slowest five: page ms at s into the loads", ", ".join(f"{path.split('/')[1]} {seconds * 1000:.0f} at {at:.0f}" for path, seconds, _, at in slowest))
    for page in ADMIN_PAGES:
        path = page.replace("{target}", args.target)
        page_times = sorted(seconds * 1000 for p, seconds, _, _ in samples_admin if p == path)
        table.add("admin", f"  {page} p50 / p99 / max", f"{percentile(page_times, 0.5):.1f} / {percentile(page_times, 0.99):.1f} / "
                  f"{page_times[-1] if page_times else float('nan'):.1f} ms")
    engine_times = sorted(seconds * 1000 for seconds, _ in engine_samples)
    table.add("engine", "alone, same moments: /containers/json p50 / p99 / max", f"{percentile(engine_times, 0.5):.1f} / "
              f"{percentile(engine_times, 0.99):.1f} / {engine_times[-1] if engine_times else float('nan'):.1f} ms")
    slow_engine = [at for seconds, at in engine_samples if seconds > 0.2]
    slow_admin = [at for _, seconds, _, at in samples_admin if seconds > 0.2]
    def spread(moments):
        return f"{len(moments)}" + (f", {min(moments):.0f}-{max(moments):.0f} s into the loads" if moments else "")
    table.add("admin", "pages over 200 ms (the engine alone over 200 ms)", f"{spread(slow_admin)} ({spread(slow_engine)})")
    table.add("admin", "errors on signed-in pages", len(errors), "0", not errors)
    table.add("admin", "connections opened again (server closed or timed out)", reconnects)
    flashes_ok = sum(1 for a in actions if a.get("status") == 303 and (a.get("flash") or {}).get("kind") == "ok" and a.get("banner_ok"))
    table.add("admin", "stop/start through the form, ok flash shown", f"{flashes_ok} of {len(actions)}", "all", bool(actions) and flashes_ok == len(actions))
    if actions:
        action_times = sorted(a["seconds"] * 1000 for a in actions)
        table.add("admin", "stop/start (with redirect) median / max", f"{statistics.median(action_times):.0f} / {action_times[-1]:.0f} ms")
    try:
        events = engine_state_changes(args.socket, args.target, started_wall - 1, ended_wall)
    except OSError as error:
        table.add("admin", "the engine's events", f"unreadable: {error}", "readable", False)
        events = []
    rows = audit_rows(args.database, "SELECT action, time FROM auditEvent WHERE targetId = ? AND outcome = 'ok' "
                      "AND action IN ('container.stop', 'container.start')", (args.target,))
    matched, missing, spare = pair_actions(events, rows)
    table.add("admin", "state changes the engine saw (start/stop)", len(events), "> 0", bool(events))
    table.add("admin", "  with their ok audit row", matched)
    table.add("admin", "  without their row", len(missing), "0", not missing)
    if spare:
        table.add("admin", "  ok rows with no engine change (already in state)", spare)

    if "viewers" in running:
        viewers = running["viewers"]
        counts = {pattern: viewers.count(pattern) for pattern in (LINE_MARKER, SECRET, MASK, WITHHELD, GAP)}
        table.add("redaction", f"lines through the dashboard ({args.viewers} link viewers)", counts[LINE_MARKER], "> 0", counts[LINE_MARKER] > 0)
        table.add("redaction", "[redacted] masks seen", counts[MASK], "> 0", counts[MASK] > 0)
        table.add("redaction", "gaps (lines dropped for a slow reader)", counts[GAP])
        table.add("redaction", "secret token=abc leaked", counts[SECRET], "0", counts[SECRET] == 0)
        table.add("redaction", "lines withheld (rule unusable)", counts[WITHHELD], "0", counts[WITHHELD] == 0)
        first = dict(viewers.statuses)
        if sum(first.values()) < args.viewers:
            first["no answer"] = args.viewers - sum(first.values())
        table.add("redaction", "first stream answers", counts_text(first), "200", set(first) == {200})
        table.add("redaction", "reconnects (answers)", f"{viewers.reconnects} ({counts_text(viewers.reconnect_statuses)})")

    if "sockets" in running:
        sockets, probes = running["sockets"], running["probes"]
        limit = args.header_timeout + 2
        for kind in ("slow", "idle"):
            lifetimes = sorted(sockets.lifetimes[kind])
            worst = max(lifetimes[-1] if lifetimes else 0.0, socket_ages[kind])
            table.add("slow/idle", f"{kind} connections closed by the server", len(lifetimes))
            table.add("slow/idle", f"{kind} lifetime median / max (max counts those still open)",
                      f"{percentile(lifetimes, 0.5):.1f} / {worst:.1f} s", f"max <= {limit} s", bool(lifetimes) and worst <= limit)
        table.add("slow/idle", "sockets opened (bound)", f"{sockets.opens} ({max_opens})")
        table.add("slow/idle", "held at once by the client, peak", sockets.peak_open)
        table.add("slow/idle", "connect failures", sockets.connect_failures)
        if sockets.answers:
            table.add("slow/idle", "answers before closing", counts_text(sockets.answers))
        table.add("slow/idle", "connections Berth held (accepted), peak", max(samples["accepted"] or [0]))
        table.add("slow/idle", "waiting in the listen backlog (not accepted yet), peak", max(samples["backlog"] or [0]))
        # Berth's count is sampled once a second and moves by hundreds a second while sockets churn: a margin.
        over = [r for r in probes.results if r[0] > args.max_connections + 100]
        under = [r for r in probes.results if r[0] < args.max_connections - 100]
        refused = sum(1 for r in over if r[1] == 503 and r[2])
        table.add("slow/idle", f"anonymous probes past the cap ({args.max_connections}): 503 + Retry-After",
                  f"{refused} of {len(over)}", "all", bool(over) and refused == len(over))
        table.add("slow/idle", "  other answers past the cap", counts_text(tally(r[1] for r in over if not (r[1] == 503 and r[2]))))
        table.add("slow/idle", "anonymous probes under the cap: answers", counts_text(tally(r[1] for r in under)))
        table.add("slow/idle", "probes cut off by the end of the loads", probes.cut_off)

    if "flood" in running:
        flood = running["flood"]
        statuses = flood.statuses
        table.add("flood", "stream attempts (20 containers each)", f"{flood.attempts} of {args.flood_attempts} ({flood.cut_off} cut off by the end)")
        table.add("flood", "answers 200 / 429 / 503", f"{statuses.get(200, 0)} / {statuses.get(429, 0)} / {statuses.get(503, 0)}")
        others = {k: v for k, v in statuses.items() if k not in (200, 429, 503)}
        table.add("flood", "other answers (or none by the end)", counts_text(others), "none", not others)
        table.add("flood", "429/503 without Retry-After", flood.without_retry_after, "0", flood.without_retry_after == 0)
        table.add("flood", "streams of the session open at once, peak", flood.peak_open, f"<= {args.streams_per_session}",
                  flood.peak_open <= args.streams_per_session)
        table.add("flood", "log lines received", flood.lines)
        logs_rows = audit_rows(args.database, "SELECT COUNT(*) FROM auditEvent WHERE actor = ? AND action = 'container.logs'", (args.flood_user,))[0][0]
        table.add("flood", "container.logs audit rows of the session", f"{logs_rows} (20 x the 200 answers: {20 * statuses.get(200, 0)})")
    # Each log follow costs dockerd about three descriptors (its end of the connection, the log file, a watch). Every
    # page on a container shares that container's one follow, so the follows are the containers watched, however many
    # streams are asked for (the flood's 20, the fast log, the dashboard's); a stream that opens also reads what came
    # before with a short request of its own (the flood has 16 opening at once, of 20 containers each; the stalled
    # readers open at once), and a reader that stopped holds none. Besides, Berth keeps a few pooled connections for page requests (16 allowed).
    follows = (len(flood_containers) if "flood" in running else 0) + (1 if "stalled" in running else 0) + \
        (1 if "viewers" in running else 0)
    catch_ups = (16 * len(flood_containers) if "flood" in running else 0) + (args.stalled if "stalled" in running else 0)
    dockerd_peak = max(samples["dockerd"] or [0])
    pooled = dockerd_before + 16
    dockerd_median = sorted(samples["dockerd"])[len(samples["dockerd"]) // 2] if samples["dockerd"] else 0
    table.add("engine", "dockerd open descriptors before / median / peak / after",
              f"{dockerd_before} / {dockerd_median} / {dockerd_peak} / {dockerd_after}",
              f"median <= {pooled + 4 * follows + catch_ups} ({follows} follows), peak <= {pooled + 4 * (follows + catch_ups)}",
              dockerd_median <= pooled + 4 * follows + catch_ups and dockerd_peak <= pooled + 4 * (follows + catch_ups))
    table.add("memory", "Berth open descriptors before / peak / after", f"{berth_fds_before} / {max(samples['berth_fds'] or [0])} / {berth_fds_after}")

    peak = max(samples["memory"] or [0])
    if "stalled" in running:
        table.add("stalled", "stalled readers' answers", counts_text(stalled_statuses), f"{args.stalled} x 200", stalled_statuses.get(200, 0) == args.stalled)
    table.add("memory", "Berth private MiB before", f"{memory_before / 1024:.1f}")
    table.add("memory", "Berth private MiB peak", f"{peak / 1024:.1f}", f"<= {memory_before / 1024 + 150:.1f}", peak <= memory_before + 150 * 1024)
    table.add("memory", f"Berth private MiB {args.settle} s after the loads closed", f"{memory_after / 1024:.1f}",
              f"<= {memory_before / 1024 + 16:.1f}", memory_after <= memory_before + 16 * 1024)
    table.add("cpu", "Berth / this client CPU during the loads", f"{berth_cpu:.1f} / {client_cpu:.1f} s")

    print(f"berth serve {args.berth_flags}")
    print(f"loads for {args.seconds} s: {', '.join(loads)}; admin pages every 200 ms, a stop/start every 10 s")
    table.print()
    if missing:
        print("state changes without a row: " + ", ".join(f"{a} at {datetime.fromtimestamp(t, timezone.utc):%H:%M:%S.%f}" for a, t in missing[:10]))
    if errors:
        print("page errors (first 10): " + "; ".join(f"{p} {s}" for p, s in errors[:10]))
    bad_actions = [a for a in actions if not (a.get("status") == 303 and (a.get("flash") or {}).get("kind") == "ok" and a.get("banner_ok"))]
    if bad_actions:
        print("actions without an ok flash (first 5): " + "; ".join(str(a) for a in bad_actions[:5]))
    if table.missed:
        print("missed: " + "; ".join(table.missed))
        sys.exit(1)
    print("every target met")


if __name__ == "__main__":
    main()
