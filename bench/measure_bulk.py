"""A bulk start of N containers through Berth (one POST naming them all: a few at a time, a result and an audit row
each) against the docker CLI doing the same — one `docker start` naming them all, and eight `docker start`s at a time —
in the same run. While Berth works, the engine's `start` events are counted per 100 ms to show how many starts it is
asked for at once. Prints the times, the ratios and the most starts seen in one 100 ms."""
import argparse
import http.client
import json
import re
import subprocess
import threading
import time
import urllib.parse

from measure import UnixConnection, sign_in


def cli(host, ids, parallel):
    start = time.perf_counter()
    if parallel == 1:
        subprocess.run(["docker", "-H", host, "start", *ids], check=True, capture_output=True)
    else:
        subprocess.run(["xargs", "-P", str(parallel), "-n", "1", "docker", "-H", host, "start"], input="\n".join(ids).encode(),
                       check=True, capture_output=True)
    return time.perf_counter() - start


def wait_stopped(socket, ids):
    """The containers run `true`: each is stopped again a moment after its start."""
    wanted = set(ids)
    for _ in range(600):
        connection = UnixConnection(socket)
        connection.request("GET", "/containers/json?filters=" + urllib.parse.quote(json.dumps({"label": ["berth.bulk"]})),
                           headers={"Host": "docker"})
        running = {c["Id"] for c in json.loads(connection.getresponse().read())}
        connection.close()
        if not running & wanted:
            return
        time.sleep(0.5)
    raise SystemExit("the containers did not stop")


class StartCounter:
    """The engine's start events of the bulk containers, live (the engine keeps only its last few hundred events for
    later), counted per 100 ms."""
    def __init__(self, socket):
        self.slices = {}
        self.connection = UnixConnection(socket)
        query = urllib.parse.urlencode({"filters": json.dumps({"event": ["start"], "label": ["berth.bulk"]})})
        self.connection.request("GET", "/events?" + query, headers={"Host": "docker"})
        self.response = self.connection.getresponse()
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self):
        try:
            for line in self.response:
                event = json.loads(line)
                key = event["timeNano"] // 100_000_000
                self.slices[key] = self.slices.get(key, 0) + 1
        except Exception:
            pass

    def result(self):
        time.sleep(1)
        slices = dict(self.slices)
        self.connection.sock.close()
        return (max(slices.values()) if slices else 0), sum(slices.values())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--socket", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    args = parser.parse_args()
    host = "unix://" + args.socket

    connection = UnixConnection(args.socket)
    connection.request("GET", "/containers/json?all=1&filters=" + urllib.parse.quote(json.dumps({"label": ["berth.bulk"]})),
                       headers={"Host": "docker"})
    ids = [c["Id"] for c in json.loads(connection.getresponse().read())]
    connection.close()

    session = sign_in(args.port, args.user, args.password)
    page = http.client.HTTPConnection("127.0.0.1", args.port)
    page.request("GET", "/containers?all=1", headers={"Cookie": session})
    token = re.search(r'name="_csrf" value="([^"]+)"', page.getresponse().read().decode()).group(1)
    page.close()

    sequential = cli(host, ids, 1)
    wait_stopped(args.socket, ids)
    eight = cli(host, ids, 8)
    wait_stopped(args.socket, ids)

    body = urllib.parse.urlencode([("_csrf", token), ("action", "start")] + [("id", i) for i in ids])
    berth = http.client.HTTPConnection("127.0.0.1", args.port, timeout=3600)
    counter = StartCounter(args.socket)
    began = time.perf_counter()
    berth.request("POST", "/containers/bulk", body=body, headers={
        "Cookie": session, "Content-Type": "application/x-www-form-urlencoded", "Origin": f"http://127.0.0.1:{args.port}"})
    response = berth.getresponse()
    text = response.read().decode()
    took = time.perf_counter() - began
    counts = re.search(r"(\d+) succeeded, (\d+) failed", text)
    most, total = counter.result()

    print(f"containers: {len(ids)}")
    print(f"docker start (all named at once, one after another): {sequential:.1f} s")
    print(f"docker start, eight at a time (xargs -P 8): {eight:.1f} s")
    print(f"Berth POST /containers/bulk action=start: {took:.1f} s, HTTP {response.status},"
          f" {counts.group(1)} succeeded, {counts.group(2)} failed; {text.count('result-ok')} result rows")
    print(f"ratio to the CLI one after another: {took / sequential:.2f}; to eight at a time: {took / eight:.2f}")
    print(f"engine start events while Berth worked: {total}; at most {most} in one 100 ms")


if __name__ == "__main__":
    main()
