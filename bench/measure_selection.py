"""A dashboard selecting among N containers, beside the engine calls it makes, in the same run: the editor's preview
against the engine's label-filtered list, and a screen's first status table (its stream opened until the table
arrives) against that list plus an inspect of each container the table shows (50 at most), made in parallel."""
import argparse
import json
import socket
import statistics
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

from measure import UnixConnection, post_form, sign_in

SHOWN = 50  # a dashboard shows at most this many containers


def engine_get(socket_path, path):
    connection = UnixConnection(socket_path)
    connection.request("GET", path, headers={"Host": "docker"})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert response.status == 200, (path, response.status, body[:200])
    return body


def engine_list(socket_path, label):
    filters = urllib.parse.quote(json.dumps({"label": [label]}))
    return json.loads(engine_get(socket_path, f"/containers/json?all=1&filters={filters}"))


def engine_table(socket_path, label, pool):
    """What a table needs of the engine: the list, then the shown containers (first by name) inspected at once."""
    began = time.perf_counter()
    listed = engine_list(socket_path, label)
    shown = sorted(listed, key=lambda c: c["Names"][0])[:SHOWN]
    list(pool.map(lambda c: engine_get(socket_path, f"/containers/{c['Id']}/json"), shown))
    return time.perf_counter() - began, len(listed)


def berth_preview(port, cookie, label):
    began = time.perf_counter()
    connection = socket.create_connection(("127.0.0.1", port))
    query = urllib.parse.urlencode({"kind": "labels", "selection": label})
    connection.sendall(f"GET /dashboards/preview?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n"
                       "Connection: close\r\n\r\n".encode())
    answer = b""
    while chunk := connection.recv(65536):
        answer += chunk
    connection.close()
    took = time.perf_counter() - began
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    matches = json.loads(answer.split(b"\r\n\r\n", 1)[1])["matches"]
    return took, len(matches)


def berth_table(port, cookie, path):
    """A screen opening: its stream, until the first status table has arrived whole."""
    began = time.perf_counter()
    connection = socket.create_connection(("127.0.0.1", port))
    connection.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nCookie: {cookie}\r\n\r\n".encode())
    received = b""
    while True:
        chunk = connection.recv(65536)
        assert chunk, received[:300]
        received += chunk
        start = received.find(b"event: containers\n")
        if start >= 0 and received.find(b"\n\n", start) >= 0:
            break
    took = time.perf_counter() - began
    connection.close()
    table = received[start:received.find(b"\n\n", start)].split(b"data: ", 1)[1]
    return took, len(json.loads(table)["containers"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--socket", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--owner", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--label", required=True, help="the label every bench container has")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    session = sign_in(args.port, args.owner, args.password)
    status, location, _ = post_form(args.port, session, "/dashboards", [
        ("title", "Among all"), ("kind", "labels"), ("selection", args.label), ("showStatus", "on")])
    assert status == 303, status
    stream = location + "/stream"
    pool = ThreadPoolExecutor(SHOWN)

    # Warm both (negotiation, caches), then alternate so that drift hits both alike.
    engine_table(args.socket, args.label, pool)
    berth_table(args.port, session, stream)
    raw_list, preview, raw_table, table = [], [], [], []
    for _ in range(args.rounds):
        began = time.perf_counter()
        listed = engine_list(args.socket, args.label)
        raw_list.append(time.perf_counter() - began)
        took, matches = berth_preview(args.port, session, args.label)
        preview.append(took)
        took, count = engine_table(args.socket, args.label, pool)
        raw_table.append(took)
        # Screens opening within a second share their first reading: each round's is a reading of its own.
        time.sleep(1.2)
        took, rows = berth_table(args.port, session, stream)
        table.append(took)
    pool.shutdown()

    def median(values):
        return statistics.median(values) * 1000

    print(f"dashboard selecting among {len(listed)} containers ({rows} shown; the preview lists {matches}), {args.rounds} rounds:")
    print(f"  preview: engine's filtered list {median(raw_list):.1f} ms, Berth's /dashboards/preview {median(preview):.1f} ms, "
          f"ratio {median(preview) / median(raw_list):.2f}")
    print(f"  first table: engine's list + {rows} inspects {median(raw_table):.1f} ms, Berth's stream to its table "
          f"{median(table):.1f} ms, ratio {median(table) / median(raw_table):.2f}")


if __name__ == "__main__":
    main()
