"""Audit search pages and export: Berth over HTTP beside the same SQL on the file, in one run."""
import argparse
import datetime
import hashlib
import http.client
import os
import re
import sqlite3
import statistics
import threading
import time
import urllib.parse

from measure import sign_in

ACTIONS = [f"{kind}.{verb}" for kind in ("container", "image", "network", "volume", "service")
           for verb in ("start", "stop", "restart", "kill", "remove", "create", "inspect", "pull")]
COLUMNS = "id, time, requestId, actor, role, clientAddress, userAgent, action, targetType, targetId, targetName, engine, parameters, outcome, errorMessage, durationMs, hash"


def seed(database, rows):
    """Rows spread over the last 30 days: 50 actors, 40 actions, 5000 targets, 90 % ok, 7 % denied, 3 % error,
    and 'needle' in the parameters of every 200,000th row."""
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=30)
    step = 30 * 86400 / rows

    def generate():
        for i in range(1, rows + 1):
            moment = start + datetime.timedelta(seconds=i * step)
            outcome = "error" if i % 100 < 3 else "denied" if i % 100 < 10 else "ok"
            yield (
                moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}",
                f"req-{i}", f"user{i % 50}", "operator", f"10.0.{i % 250}.{i % 200}", "bench",
                ACTIONS[(i * 7) % len(ACTIONS)], "container", hashlib.sha256(str(i).encode()).hexdigest(), f"svc-{i % 5000}",
                "unix:///var/run/docker.sock",
                '{"needle":"yes"}' if i % 200000 == 0 else '{"timeout":"10"}', outcome,
                "role viewer may not" if outcome == "denied" else "daemon said no" if outcome == "error" else None, i % 900,
            )

    connection = sqlite3.connect(database)
    began = time.perf_counter()
    with connection:
        connection.executemany(
            "INSERT INTO auditEvent (time, requestId, actor, role, clientAddress, userAgent, action, targetType, targetId, "
            "targetName, engine, parameters, outcome, errorMessage, durationMs) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            generate(),
        )
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    print(f"seed: {rows} rows in {time.perf_counter() - began:.1f} s")


def raw_page(connection, where, arguments, limit=51):
    return [row[0] for row in connection.execute(
        f"SELECT {COLUMNS} FROM auditEvent WHERE {where} ORDER BY id DESC LIMIT {limit}", arguments)]


def time_bounds(connection, start, end):
    first = connection.execute("SELECT id FROM auditEvent WHERE time >= ? ORDER BY time, id LIMIT 1", (start,)).fetchone()[0]
    last = connection.execute("SELECT id FROM auditEvent WHERE time < ? ORDER BY time DESC, id DESC LIMIT 1", (end,)).fetchone()[0]
    return first, last


def cases(connection, rows):
    middle = connection.execute("SELECT time FROM auditEvent WHERE id = ?", (rows // 2,)).fetchone()[0]
    day = middle[:10]
    next_day = (datetime.date.fromisoformat(day) + datetime.timedelta(days=1)).isoformat()
    text_columns = ["actor", "action", "targetName", "clientAddress", "parameters", "errorMessage"]
    text_where = "(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in text_columns) + ")"

    def text_page(text):
        pattern = f"%{text}%"
        return [row[0] for row in connection.execute(
            f"SELECT auditEvent.id FROM auditText JOIN auditEvent ON auditEvent.id = auditText.rowid "
            f"WHERE auditText.body LIKE ? AND {text_where} ORDER BY auditText.rowid DESC LIMIT 51", (pattern,) + (pattern,) * 6)]

    def ranged(extra_where="", extra_arguments=()):
        def run():
            first, last = time_bounds(connection, day + " 00:00:00.000", next_day + " 00:00:00.000")
            return raw_page(connection, "id >= ? AND id <= ?" + extra_where, (first, last) + extra_arguments)
        return run

    return [
        ("newest page, no filter", "", lambda: raw_page(connection, "1", ())),
        ("page 10,000 deep (before=)", f"before={rows // 2}", lambda: raw_page(connection, "id <= ?", (rows // 2 - 1,))),
        ("one actor", "actor=user7", lambda: raw_page(connection, "actor = ?", ("user7",))),
        ("action + outcome denied", "action=container.kill&outcome=denied",
         lambda: raw_page(connection, "action = ? AND outcome = ?", ("container.kill", "denied"))),
        ("target by name", "target=svc-1234",
         lambda: raw_page(connection, "(targetName = ? OR targetId = ?)", ("svc-1234", "svc-1234"))),
        ("one day (time range)", f"from={day}&to={next_day}", ranged()),
        ("one day + actor", f"from={day}&to={next_day}&actor=user3", ranged(" AND actor = ?", ("user3",))),
        ("rare free text (5 rows)", "q=needle", lambda: text_page("needle")),
        ("common free text", "q=daemon", lambda: text_page("daemon")),
        ("free text, no match", "q=nowhere-to-be-found", lambda: text_page("nowhere-to-be-found")),
    ]


def measure(database, port, user, password, pid, requests=15):
    session = sign_in(port, user, password)
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    rows = connection.execute("SELECT max(id) FROM auditEvent").fetchone()[0]
    print(f"| case | rows on page | Berth median | Berth max | SQLite median | ratio |")
    print(f"| --- | --- | --- | --- | --- | --- |")
    http_connection = http.client.HTTPConnection("127.0.0.1", port)
    for name, query, raw in cases(connection, rows):
        berth_times, raw_times = [], []
        shown = []
        for _ in range(requests):
            began = time.perf_counter()
            http_connection.request("GET", "/audit?" + query, headers={"Cookie": session})
            response = http_connection.getresponse()
            body = response.read().decode()
            berth_times.append(time.perf_counter() - began)
            assert response.status == 200, (query, response.status, body[:300])
            shown = [int(x) for x in re.findall(r'data-audit-id="(\d+)"', body)]
            began = time.perf_counter()
            expected = raw()
            raw_times.append(time.perf_counter() - began)
        assert shown == expected[:50], (name, shown[:5], expected[:5])
        berth, sqlite = statistics.median(berth_times) * 1000, statistics.median(raw_times) * 1000
        print(f"| {name} | {len(shown)} | {berth:.1f} ms | {max(berth_times) * 1000:.1f} ms | {sqlite:.1f} ms | {berth / max(sqlite, 0.01):.1f} |")
    http_connection.close()

    # The whole trail as CSV, streamed: time, size, and Berth's resident memory sampled meanwhile.
    def rss():
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) // 1024

    before = rss()
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    began = time.perf_counter()
    http_connection = http.client.HTTPConnection("127.0.0.1", port)
    http_connection.request("GET", "/audit/export?format=csv", headers={"Cookie": session})
    response = http_connection.getresponse()
    size, lines = 0, 0
    while True:
        chunk = response.read1(1 << 20)
        if not chunk:
            break
        size += len(chunk)
        lines += chunk.count(b"\r\n")
    berth_seconds = time.perf_counter() - began
    done.set()
    sampler.join()
    began = time.perf_counter()
    count = 0
    for row in connection.execute(f"SELECT {COLUMNS} FROM auditEvent ORDER BY id DESC"):
        count += 1
    raw_seconds = time.perf_counter() - began
    database_size = sum(os.path.getsize(database + suffix) for suffix in ("", "-wal") if os.path.exists(database + suffix))
    print(f"\ndatabase: {database_size / 1e6:.0f} MB for {rows} rows")
    print(f"export: {lines - 1} rows, {size / 1e6:.0f} MB in {berth_seconds:.1f} s; SQLite reading the same rows {raw_seconds:.1f} s; "
          f"Berth RSS {before} MiB before, {peak[0]} MiB peak during, {rss()} MiB after")
    assert lines - 1 == count, (lines, count)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["seed", "measure"])
    parser.add_argument("--database", required=True)
    parser.add_argument("--rows", type=int, default=1000000)
    parser.add_argument("--port", type=int)
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--pid", type=int)
    arguments = parser.parse_args()
    if arguments.command == "seed":
        seed(arguments.database, arguments.rows)
    else:
        measure(arguments.database, arguments.port, arguments.user, arguments.password, arguments.pid)


if __name__ == "__main__":
    main()
