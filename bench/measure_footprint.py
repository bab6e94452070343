"""Berth's footprint: time to the first answer, memory (private, PSS, RSS) idle and while one dashboard is watched, and the
engine requests it makes while no browser is connected (counted by a relay in front of the engine socket)."""
import argparse
import http.client
import os
import re
import socket
import subprocess
import sys
import threading
import time

from measure import post_form, sign_in


class CountingRelay:
    """A Unix-socket relay in front of the engine that counts the HTTP requests passing through it."""

    def __init__(self, listen, target):
        self.listen, self.target = listen, target
        self.requests = 0
        self.lock = threading.Lock()
        if os.path.exists(listen):
            os.unlink(listen)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(listen)
        self.server.listen(64)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            client, _ = self.server.accept()
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.target)
            threading.Thread(target=self.pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self.pipe, args=(upstream, client, False), daemon=True).start()

    def pipe(self, source, destination, counting):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if counting:
                    # Request lines: the client speaks HTTP/1.1 with small bodies, so a method at a line start is one.
                    found = len(re.findall(rb"(?:^|\r\n)(?:GET|POST|DELETE|PUT|HEAD) /", data))
                    with self.lock:
                        self.requests += found
                destination.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, destination):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def count(self):
        with self.lock:
            return self.requests


def memory_kib(pid):
    """From /proc/PID/smaps_rollup. Private memory is the anonymous pages (heap, stacks, every page the process wrote,
    copies of file pages included) and swap: what the process really costs, which only swap can take. Not
    Private_Dirty: a binary written moments ago (a build, a copy) has dirty page-cache pages, which count there until
    they are written back. PSS is its fair share of every page it maps; RSS every page mapped, most of it clean code
    and read-only data the kernel can drop and read again (reported, not targeted)."""
    values = {"Rss": 0, "Pss": 0, "Anonymous": 0, "Swap": 0}
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            name = line.split(":")[0]
            if name in values:
                values[name] = int(line.split()[1])
    values["Private"] = values["Anonymous"] + values["Swap"]
    return values


def private_kib(pid):
    return memory_kib(pid)["Private"]


def memory_text(pid):
    values = memory_kib(pid)
    return (f"private {values['Private'] / 1024:.1f} MiB (PSS {values['Pss'] / 1024:.1f} MiB, "
            f"RSS {values['Rss'] / 1024:.1f} MiB)")


def watch(port, cookie, path, stop, counts):
    """Reads an event stream as a browser tab would, until `stop` is set."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", path, headers={"Cookie": cookie, "Accept": "text/event-stream"})
    response = connection.getresponse()
    while not stop.is_set():
        chunk = response.read1(65536)
        if not chunk:
            break
        counts["bytes"] += len(chunk)
        counts["events"] += chunk.count(b"\n\n")
    connection.close()


def evict_from_page_cache(path):
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)  # dirty pages are not dropped
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(descriptor)


def start_and_idle(command, args, relay, label):
    """Starts Berth, waits for its first answer (the sign-in page), then idles; prints what it measured."""
    print(f"-- {label}")
    started = time.perf_counter()
    server = subprocess.Popen(command, env={**os.environ, "BERTH_LOG_LEVEL": "error"})
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", args.port, timeout=1)
            connection.request("GET", "/login")
            if connection.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.005)
        if time.perf_counter() - started > 30:
            server.kill()
            sys.exit("Berth did not answer within 30 s")
    try:
        first_answer = time.perf_counter() - started
        print(f"start to first answered request: {first_answer * 1000:.0f} ms")
        time.sleep(2)
        print(f"memory after start: {memory_text(server.pid)}")
        before = relay.count()
        time.sleep(args.idle_seconds)
        idle_requests = relay.count() - before
        print(f"engine requests in {args.idle_seconds} s with no browser connected: {idle_requests}")
        print(f"memory idle: {memory_text(server.pid)}", flush=True)
    except BaseException:
        stop(server)
        raise
    return server


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--engine-socket", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--pam-service", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--idle-seconds", type=int, default=60)
    parser.add_argument("--watch-seconds", type=int, default=3600)
    parser.add_argument("--label", required=True, help="label=value the dashboard selects")
    args = parser.parse_args()

    relay = CountingRelay(os.path.join(args.work, "relay.sock"), args.engine_socket)

    def command(database):
        return [args.binary, "serve", "--port", str(args.port), "--engine", "unix://" + relay.listen,
                "--database", os.path.join(args.work, database), "--pam-service", args.pam_service,
                "--operator-group", args.group, "--templates", "Templates", "--public", "Public"]

    # Twice, each with a new database: with the binary's pages in the page cache as found (a fresh build's as the
    # linker wrote them), and with none, as after a reboot. The kernel maps a file in blocks of its page-cache
    # folios, and a written file has other folios than one read in by the first start, so the same code can keep
    # more or less of it mapped.
    server = start_and_idle(command("first.sqlite"), args, relay, "page cache as found")
    stop(server)
    evict_from_page_cache(args.binary)
    server = start_and_idle(command("berth.sqlite"), args, relay, "binary not in the page cache, as after a reboot")
    try:
        cookie = sign_in(args.port, args.user, args.password)
        status, location, _ = post_form(args.port, cookie, "/dashboards", [
            ("title", "Footprint"), ("kind", "labels"), ("selection", args.label), ("showStatus", "on"),
            ("showStats", "on"), ("showEvents", "on"), ("showLogs", "on")])
        assert status == 303 and location and location.startswith("/dashboards/"), (status, location)
        done = threading.Event()
        counts = {"bytes": 0, "events": 0}
        reader = threading.Thread(target=watch, args=(args.port, cookie, location + "/stream", done, counts), daemon=True)
        reader.start()
        samples = []
        watched = time.perf_counter()
        while time.perf_counter() - watched < args.watch_seconds:
            time.sleep(min(60, args.watch_seconds))
            samples.append(private_kib(server.pid))
            print(f"  {int(time.perf_counter() - watched)} s watched: {samples[-1] / 1024:.1f} MiB private, "
                  f"{counts['events']} events received", flush=True)
        done.set()
        print(f"memory after {args.watch_seconds} s of one open dashboard: {memory_text(server.pid)} "
              f"(highest private {max(samples) / 1024:.1f} MiB); {counts['events']} events, {counts['bytes'] / 1024:.0f} KiB received")
        reader.join(timeout=5)
        time.sleep(5)
        before = relay.count()
        time.sleep(args.idle_seconds)
        print(f"engine requests in {args.idle_seconds} s after the dashboard closed: {relay.count() - before}")
    finally:
        stop(server)


def stop(server):
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
