"""Times the raw engine list call and Berth's list page, sequentially, in the same run; prints medians and ratio."""
import argparse
import http.client
import re
import socket
import statistics
import time
import urllib.parse


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("docker")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def timed(connection_factory, path, headers, requests):
    times = []
    connection = connection_factory()
    for _ in range(requests):
        start = time.perf_counter()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        times.append(time.perf_counter() - start)
        assert response.status == 200, (path, response.status, body[:200])
    connection.close()
    return times, len(body)


def sign_in(port, user, password):
    return sign_in_timed(port, user, password)[0]


def sign_in_timed(port, user, password):
    """The sign-in form as a browser sends it; the session cookie, and the time of the POST that checks the password
    (the form's GET is a page like any other)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", "/login")
    response = connection.getresponse()
    page = response.read().decode()
    cookie = response.getheader("Set-Cookie").split(";")[0]
    token = re.search(r'name="_csrf" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"_csrf": token, "username": user, "password": password})
    began = time.perf_counter()
    connection.request("POST", "/login", body=body, headers={
        "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded", "Origin": f"http://127.0.0.1:{port}",
    })
    response = connection.getresponse()
    response.read()
    took = time.perf_counter() - began
    assert response.status == 303, (user, response.status)
    session = [c for c in response.headers.get_all("Set-Cookie") if c.startswith("berth=")][0].split(";")[0]
    connection.close()
    return session, took


def http_get(port, cookie, path):
    connection = http.client.HTTPConnection("127.0.0.1", port)
    connection.request("GET", path, headers={"Cookie": cookie})
    response = connection.getresponse()
    return response.read().decode()


def post_form(port, cookie, path, fields):
    """A form as the browser posts it (CSRF token from a page, Origin); status, Location and the answer's text."""
    connection = http.client.HTTPConnection("127.0.0.1", port)
    page = http_get(port, cookie, "/dashboards")
    token = re.search(r'name="_csrf" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode([("_csrf", token)] + fields)
    connection.request("POST", path, body=body, headers={
        "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded", "Origin": f"http://127.0.0.1:{port}"})
    response = connection.getresponse()
    text = response.read().decode(errors="replace")
    return response.status, response.getheader("Location"), text


def private_mib(pid):
    """Anonymous + swapped pages (smaps_rollup): what the process really costs, not its mapped code."""
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            if line.startswith("Anonymous:") or line.startswith("Swap:"):
                total += int(line.split()[1])
    return total / 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--socket", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--containers", type=int, default=300)
    args = parser.parse_args()

    session = sign_in(args.port, args.user, args.password)
    engine = lambda: UnixConnection(args.socket)
    berth = lambda: http.client.HTTPConnection("127.0.0.1", args.port)
    # Warm both up (negotiation, caches), then alternate rounds so drift hits both alike.
    timed(engine, "/containers/json?all=1", {"Host": "docker"}, 5)
    timed(berth, "/containers?all=1", {"Cookie": session}, 5)
    raw, berth_times = [], []
    raw_size = page_size = 0
    for _ in range(3):
        times, raw_size = timed(engine, "/containers/json?all=1", {"Host": "docker"}, args.requests // 3)
        raw += times
        times, page_size = timed(berth, "/containers?all=1", {"Cookie": session}, args.requests // 3)
        berth_times += times
    raw_median = statistics.median(raw) * 1000
    berth_median = statistics.median(berth_times) * 1000
    print(f"containers: {args.containers}, requests each: {len(raw)}")
    print(f"engine GET /containers/json?all=1: median {raw_median:.1f} ms ({raw_size} bytes)")
    print(f"Berth  GET /containers?all=1:      median {berth_median:.1f} ms ({page_size} bytes)")
    print(f"ratio: {berth_median / raw_median:.2f}")


if __name__ == "__main__":
    main()
