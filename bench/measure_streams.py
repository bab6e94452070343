"""Log follow throughput (engine socket vs Berth's event stream) and the events fan-out, measured in one run."""
import argparse
import http.client
import os
import selectors
import socket
import statistics
import subprocess
import time

from measure import UnixConnection, sign_in

TIMESTAMP = len("2026-11-22T21:47:23.123456789Z ")
LINE = 100  # "line 00000001 " + 85 zeros + "\n"


def engine_follow(path, container, lines):
    """Reads the whole log with follow=1 until every byte of every frame has come; returns seconds."""
    expected = lines * (8 + TIMESTAMP + LINE)
    connection = UnixConnection(path)
    start = time.perf_counter()
    connection.request("GET", f"/containers/{container}/logs?follow=1&stdout=1&stderr=1&timestamps=1", headers={"Host": "docker"})
    response = connection.getresponse()
    got = 0
    while got < expected:
        chunk = response.read1(1 << 20)
        if not chunk:
            raise SystemExit(f"engine stream ended after {got} of {expected} bytes")
        got += len(chunk)
    elapsed = time.perf_counter() - start
    connection.close()
    return elapsed


def berth_follow(port, session, container, lines):
    """Reads the same log through /logs/stream until the last line has come; returns seconds."""
    connection = http.client.HTTPConnection("127.0.0.1", port)
    start = time.perf_counter()
    connection.request("GET", f"/logs/stream?container={container}&tail=all", headers={"Cookie": session, "Accept": "text/event-stream"})
    response = connection.getresponse()
    assert response.status == 200, response.status
    marker = b'"x":"line '
    last = b"line %08d" % lines
    seen = 0
    carry = b""
    while True:
        chunk = response.read1(1 << 20)
        if not chunk:
            raise SystemExit(f"Berth stream ended after {seen} lines")
        data = carry + chunk
        seen += data.count(marker) - carry.count(marker)
        if last in data:
            break
        carry = data[-64:]
    elapsed = time.perf_counter() - start
    connection.close()
    assert seen >= lines, (seen, lines)
    return elapsed


def engine_connections(pid, engine_path):
    """Unix connections the Berth process holds to the engine's socket. In `ss -xpn` the engine's end of each shows
    the socket path and its inode (columns 5 and 6); Berth's end names that inode as its peer (column 8)."""
    out = subprocess.run(["ss", "-xpn"], capture_output=True, text=True).stdout
    rows = [line.split() for line in out.splitlines()[1:]]
    engine_ends = {fields[5] for fields in rows if len(fields) > 7 and fields[4] == engine_path}
    return sum(1 for fields in rows if len(fields) > 8 and fields[7] in engine_ends and f"pid={pid}," in fields[8])


def rss(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def fan_out(port, session, subscribers, pid, docker_host):
    before = engine_connections(pid, docker_host.replace("unix://", ""))
    selector = selectors.DefaultSelector()
    sockets = []
    request = (f"GET /events/stream?type=container&action=create HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"Accept: text/event-stream\r\nCookie: {session}\r\n\r\n").encode()
    for _ in range(subscribers):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(request)
        s.setblocking(False)
        selector.register(s, selectors.EVENT_READ)
        sockets.append(s)
    # Drain heads and the opening comment.
    deadline = time.time() + 30
    opened = 0
    while opened < subscribers and time.time() < deadline:
        for key, _ in selector.select(timeout=1):
            if b"stream open" in key.fileobj.recv(65536):
                opened += 1
    rss_before_event = rss(pid)
    name = f"bench-fanout-{os.getpid()}"
    sent = time.perf_counter()
    subprocess.run(["docker", "-H", docker_host, "create", "--network", "none", "--label", "berth.bench-streams=1",
                    "--name", name, "busybox", "true"], check=True, capture_output=True)
    arrivals = []
    waiting = set(sockets)
    buffers = {s: b"" for s in sockets}
    deadline = time.time() + 30
    while waiting and time.time() < deadline:
        for key, _ in selector.select(timeout=1):
            s = key.fileobj
            if s not in waiting:
                s.recv(65536)
                continue
            buffers[s] += s.recv(65536)
            if name.encode() in buffers[s]:
                arrivals.append(time.perf_counter() - sent)
                waiting.discard(s)
    connections = engine_connections(pid, docker_host.replace("unix://", ""))
    peak = rss(pid)
    for s in sockets:
        s.close()
    arrivals.sort()
    p99 = arrivals[int(len(arrivals) * 0.99) - 1] if arrivals else float("nan")
    return opened, len(arrivals), statistics.median(arrivals) * 1000, p99 * 1000, arrivals[-1] * 1000, (before, connections), rss_before_event, peak


def main():
    parser = argparse.ArgumentParser()
    for name in ["socket", "user", "password", "container", "docker-host"]:
        parser.add_argument("--" + name, required=True)
    for name in ["port", "lines", "subscribers", "pid"]:
        parser.add_argument("--" + name, type=int, required=True)
    args = parser.parse_args()
    session = sign_in(args.port, args.user, args.password)

    engine_follow(args.socket, args.container, args.lines)
    berth_follow(args.port, session, args.container, args.lines)
    raw, berth = [], []
    for _ in range(3):
        raw.append(engine_follow(args.socket, args.container, args.lines))
        berth.append(berth_follow(args.port, session, args.container, args.lines))
    mib = args.lines * (TIMESTAMP + LINE) / (1 << 20)
    raw_rate = mib / statistics.median(raw)
    berth_rate = mib / statistics.median(berth)
    print(f"log follow, {args.lines} lines ({mib:.0f} MiB with timestamps), median of 3:")
    print(f"  engine socket: {statistics.median(raw):.2f} s ({raw_rate:.0f} MiB/s, {args.lines / statistics.median(raw):.0f} lines/s)")
    print(f"  Berth SSE:     {statistics.median(berth):.2f} s ({berth_rate:.0f} MiB/s, {args.lines / statistics.median(berth):.0f} lines/s)")
    print(f"  ratio (Berth throughput / engine): {berth_rate / raw_rate:.2f}")

    opened, reached, median, p99, worst, connections, before, peak = fan_out(args.port, session, args.subscribers, args.pid, args.docker_host)
    print(f"events fan-out: {opened} subscribers open, {reached} got the event")
    print(f"  time to reach them: median {median:.0f} ms, p99 {p99:.0f} ms, last {worst:.0f} ms")
    print(f"  Berth's connections to the engine socket: {connections[0]} before they open (idle keep-alive), {connections[1]} while they listen")
    print(f"  Berth RSS: {before / (1 << 20):.0f} MiB with all subscribers open, {peak / (1 << 20):.0f} MiB after the event")


if __name__ == "__main__":
    main()
