"""Console benchmarks, in one run: the echo latency of a keystroke through Berth's console against the same exec
straight on the engine's socket, and Berth's private memory while 20 consoles stream `yes` as fast as they can."""
import argparse
import base64
import http.client
import json
import os
import re
import selectors
import socket
import statistics
import struct
import time
import urllib.parse

from measure import sign_in
from measure_footprint import memory_kib


def read_head(sock):
    """Reads an HTTP response head; returns (status line, bytes after the head)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise SystemExit(f"connection closed during the handshake: {data[:200]!r}")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    return head.split(b"\r\n")[0].decode(), rest


class RawExec:
    """`docker exec -it` as the CLI does it: create, then start on a connection the engine upgrades."""

    def __init__(self, engine_path, container, command):
        connection = http.client.HTTPConnection("docker")
        connection.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.sock.connect(engine_path)
        body = json.dumps({"AttachStdin": True, "AttachStdout": True, "AttachStderr": True, "Tty": True, "Cmd": command})
        connection.request("POST", f"/containers/{container}/exec", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        exec_id = json.loads(response.read())["Id"]
        connection.close()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(engine_path)
        start = json.dumps({"Detach": False, "Tty": True}).encode()
        self.sock.sendall(
            f"POST /exec/{exec_id}/start HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
            f"Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: {len(start)}\r\n\r\n".encode() + start)
        status, self.pending = read_head(self.sock)
        assert " 101 " in status, status

    def send(self, data):
        self.sock.sendall(data)

    def receive(self):
        if self.pending:
            data, self.pending = self.pending, b""
            return data
        return self.sock.recv(65536)

    def close(self):
        self.sock.close()


class BerthConsole:
    """The console page's WebSocket, spoken by hand: same Origin, the session cookie, the CSRF token as a
    subprotocol; binary frames both ways (masked from the client), JSON text frames for events."""

    def __init__(self, port, session, token, container, command):
        self.sock = socket.create_connection(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((
            f"GET /containers/{container}/console/socket?command={urllib.parse.quote(command)}&cols=80&rows=24 HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {key}\r\nOrigin: http://127.0.0.1:{port}\r\nCookie: {session}\r\n"
            f"Sec-WebSocket-Protocol: berth.console, berth.csrf.{token}\r\n\r\n").encode())
        status, self.buffer = read_head(self.sock)
        assert " 101 " in status, status
        self.events = []

    def send(self, data):
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(data))
        length = len(data)
        header = bytes([0x82]) + (bytes([0x80 | length]) if length < 126 else bytes([0x80 | 126]) + struct.pack(">H", length))
        self.sock.sendall(header + mask + masked)

    def _frame(self):
        """One whole frame from the buffer, or None."""
        if len(self.buffer) < 2:
            return None
        opcode = self.buffer[0] & 0x0F
        length = self.buffer[1] & 0x7F
        offset = 2
        if length == 126:
            if len(self.buffer) < 4:
                return None
            length = struct.unpack(">H", self.buffer[2:4])[0]
            offset = 4
        elif length == 127:
            if len(self.buffer) < 10:
                return None
            length = struct.unpack(">Q", self.buffer[2:10])[0]
            offset = 10
        if len(self.buffer) < offset + length:
            return None
        payload = self.buffer[offset:offset + length]
        self.buffer = self.buffer[offset + length:]
        return opcode, payload

    def receive(self):
        """The terminal output of the next binary frames at hand (b"" when the connection closed)."""
        while True:
            output = b""
            while (frame := self._frame()) is not None:
                opcode, payload = frame
                if opcode == 2:
                    output += payload
                elif opcode == 1:
                    self.events.append(json.loads(payload))
                elif opcode == 8:
                    return output
            if output:
                return output
            chunk = self.sock.recv(65536)
            if not chunk:
                return b""
            self.buffer += chunk

    def close(self):
        self.sock.close()


def echo_latencies(console, keystrokes):
    """Sends one byte at a time to `cat` on a terminal and waits for the terminal's echo of it."""
    # The terminal settles (Berth's page sends its size; cat starts) before timing begins.
    time.sleep(0.5)
    console.send(b"warm\r")
    seen = b""
    while b"warm" not in seen:
        seen += console.receive()
    times = []
    for index in range(keystrokes):
        key = b"abcdefghijklmnopqrstuvwxyz"[index % 26:index % 26 + 1]
        start = time.perf_counter()
        console.send(key)
        got = b""
        while key not in got:
            got += console.receive()
        times.append(time.perf_counter() - start)
        if index % 60 == 59:
            console.send(b"\r")
            time.sleep(0.01)
        time.sleep(0.002)
    return times


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--socket", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--container", required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--keystrokes", type=int, default=400)
    parser.add_argument("--consoles", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()

    session = sign_in(args.port, args.user, args.password)
    page = http.client.HTTPConnection("127.0.0.1", args.port)
    page.request("GET", "/containers", headers={"Cookie": session})
    token = re.search(r'name="_csrf" value="([^"]+)"', page.getresponse().read().decode()).group(1)

    # Latency: the raw exec and Berth's console, one after the other, twice.
    raw_times, berth_times = [], []
    for _ in range(2):
        raw = RawExec(args.socket, args.container, ["cat"])
        raw_times += echo_latencies(raw, args.keystrokes // 2)
        raw.close()
        console = BerthConsole(args.port, session, token, args.container, "cat")
        berth_times += echo_latencies(console, args.keystrokes // 2)
        console.close()
    raw_p50, raw_p99 = percentile(raw_times, 0.5) * 1000, percentile(raw_times, 0.99) * 1000
    berth_p50, berth_p99 = percentile(berth_times, 0.5) * 1000, percentile(berth_times, 0.99) * 1000
    allowed = max(raw_p99 * 1.2, raw_p99 + 5)
    print(f"echo latency, {len(raw_times)} keystrokes each: engine p50 {raw_p50:.2f} ms p99 {raw_p99:.2f} ms; "
          f"Berth p50 {berth_p50:.2f} ms p99 {berth_p99:.2f} ms (ratio p99 {berth_p99 / raw_p99:.2f}; "
          f"target p99 <= {allowed:.2f} ms: {'met' if berth_p99 <= allowed else 'MISSED'})")

    # Throughput of one console printing as fast as it can (`yes` on a terminal), raw exec against Berth, alternating.
    def throughput(console, seconds=4.0):
        start = time.perf_counter()
        got = 0
        while time.perf_counter() - start < seconds:
            got += len(console.receive())
        console.close()
        return got / (time.perf_counter() - start) / 1e6
    raw_rates, berth_rates = [], []
    # `timeout`: a raw exec's process outlives its connection (docker can't end it; Berth does), and a leftover
    # `yes` would take CPU from the next measurement.
    for _ in range(2):
        raw_rates.append(throughput(RawExec(args.socket, args.container, ["timeout", "5", "yes"])))
        time.sleep(1.5)
        berth_rates.append(throughput(BerthConsole(args.port, session, token, args.container, "timeout 5 yes")))
        time.sleep(1.5)
    raw_rate, berth_rate = statistics.median(raw_rates), statistics.median(berth_rates)
    print(f"one console printing `yes`: engine {raw_rate:.2f} MB/s, Berth {berth_rate:.2f} MB/s "
          f"(ratio {berth_rate / raw_rate:.2f})")

    # Memory: idle, then 20 consoles streaming `yes` read as fast as this reader can.
    time.sleep(2)
    idle = memory_kib(args.pid)["Private"]
    consoles = [BerthConsole(args.port, session, token, args.container, "yes") for _ in range(args.consoles)]
    selector = selectors.DefaultSelector()
    for console in consoles:
        console.sock.setblocking(False)
        selector.register(console.sock, selectors.EVENT_READ, console)
    received = 0
    peak = idle
    deadline = time.time() + args.seconds
    next_sample = time.time()
    while time.time() < deadline:
        for key, _ in selector.select(timeout=0.2):
            try:
                chunk = key.data.sock.recv(1 << 20)
            except BlockingIOError:
                continue
            received += len(chunk)
        if time.time() >= next_sample:
            peak = max(peak, memory_kib(args.pid)["Private"])
            next_sample = time.time() + 0.25
    for console in consoles:
        console.close()
    time.sleep(3)
    after = memory_kib(args.pid)["Private"]
    growth = (peak - idle) / 1024
    print(f"{args.consoles} consoles streaming yes for {args.seconds:.0f} s: {received / args.seconds / 1e6:.1f} MB/s "
          f"reached the reader; Berth private memory idle {idle / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB "
          f"(+{growth:.1f} MiB; target +20 MiB: {'met' if growth <= 20 else 'MISSED'}), 3 s after they closed "
          f"{after / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
