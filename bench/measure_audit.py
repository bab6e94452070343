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

from measure import private_mib, sign_in

ACTIONS = [f"{kind}.{verb}" for kind in ("container", "image", "network", "volume", "service")
           for verb in ("start", "stop", "restart", "kill", "remove", "create", "inspect", "pull")]


UAS = ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
       "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
       "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"]
CHAIN = ["id", "time", "requestId", "actor", "role", "clientAddress", "userAgent", "action", "targetType", "targetId",
         "targetName", "engine", "parameters", "outcome", "errorMessage", "durationMs"]


def chained(previous, values):
    """The audit chain's hash (AuditChain.hash): SHA-256 of the version, the previous hash and each written value
    tagged with its type and length."""
    parts = [f"berth-audit-v1\n{previous}\n".encode()]
    for value in values:
        if value is None:
            parts.append(b"N;")
        elif isinstance(value, int):
            parts.append(f"I{value};".encode())
        else:
            data = value.encode()
            parts.append(f"T{len(data)}:".encode() + data)
    return hashlib.sha256(b"".join(parts)).hexdigest()


def seed(database, rows):
    """Rows spread over the last 30 days, shaped like Berth's own: 50 actors, 40 actions, 5000 targets with
    64-digit ids, three engines, three browsers, a 32-digit request id, 90 % ok, 7 % denied, 3 % error, 'needle' in
    every 200,000th row's parameters, each row chained to the one before (a real hash, so `berth audit verify` walks
    a real chain). Written through the `auditEvent` view — the trigger Berth's own writes go through — with hex as
    its bytes, as Berth passes it; the free-text index is built once at the end instead of row by row."""
    start_ms = int((time.time() - 30 * 86400) * 1000)
    step = 30 * 86400 * 1000 / rows

    def generate():
        previous = ""
        for i in range(1, rows + 1):
            ms = start_ms + int(i * step)
            moment = datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc)
            text_time = moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d}"
            outcome = "error" if i % 100 < 3 else "denied" if i % 100 < 10 else "ok"
            request = hashlib.md5(str(i).encode()).hexdigest()
            target = hashlib.sha256(str(i % 5000).encode()).hexdigest()
            values = [i, text_time, request, f"user{i % 50}", "operator", f"10.0.{i % 250}.{i % 200}", UAS[i % 3],
                      ACTIONS[(i * 7) % len(ACTIONS)], "container", target, f"svc-{i % 5000}", ("local", "prod", "ssh")[i % 3],
                      '{"needle":"yes"}' if i % 200000 == 0 else '{"timeout":"10"}', outcome,
                      "role viewer may not" if outcome == "denied" else "daemon said no" if outcome == "error" else None,
                      i % 900]
            previous = chained(previous, values)
            stored = list(values)
            stored[1] = ms
            stored[2] = bytes.fromhex(request)
            stored[9] = bytes.fromhex(target)
            yield tuple(stored) + (bytes.fromhex(previous),)

    connection = sqlite3.connect(database)
    began = time.perf_counter()
    index_trigger = connection.execute("SELECT sql FROM sqlite_schema WHERE name = 'auditRow_text_insert'").fetchone()[0]
    with connection:
        # The export that made the schema left its own row: the seeded trail starts afresh, as a new one would.
        connection.execute("DELETE FROM auditRow")
        connection.execute("UPDATE sqlite_sequence SET seq = 0 WHERE name = 'auditRow'")
        connection.execute("DROP TRIGGER auditRow_text_insert")
        connection.executemany(
            f"INSERT INTO auditEvent ({', '.join(CHAIN)}, hash) VALUES ({', '.join('?' * (len(CHAIN) + 1))})", generate())
        connection.execute("INSERT INTO auditText (auditText) VALUES ('rebuild')")
        connection.execute(index_trigger)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    print(f"seed: {rows} rows in {time.perf_counter() - began:.1f} s")


WORD = "(SELECT id FROM auditWord WHERE word = ?)"
STORED = ", ".join(f"r.{column}" for column in CHAIN + ["hash"])


def raw_page(connection, where, arguments, limit=51):
    """The page Berth asks SQLite for: ids of stored rows, newest first."""
    return [row[0] for row in connection.execute(
        f"SELECT {STORED} FROM auditRow r WHERE {where} ORDER BY r.id DESC LIMIT {limit}", arguments)]


def first_at_or_after(connection, ms):
    """Berth's halving of the ids (AuditTimeline): times never go back along them."""
    low = connection.execute("SELECT min(id) FROM auditRow").fetchone()[0]
    high = connection.execute("SELECT max(id) FROM auditRow").fetchone()[0]
    found = None
    while low <= high:
        middle = (low + high) // 2
        row = connection.execute("SELECT id, time FROM auditRow WHERE id >= ? ORDER BY id LIMIT 1", (middle,)).fetchone()
        if row is None or row[0] > high:
            high = middle - 1
        elif row[1] >= ms:
            found, high = row[0], middle - 1
        else:
            low = row[0] + 1
    return found


def time_bounds(connection, start, end):
    first = first_at_or_after(connection, start)
    after = first_at_or_after(connection, end)
    last = connection.execute("SELECT max(id) FROM auditRow WHERE id < ?", (after,)).fetchone()[0] if after else \
        connection.execute("SELECT max(id) FROM auditRow").fetchone()[0]
    return first, last


def cases(connection, rows):
    middle = connection.execute("SELECT time FROM auditRow WHERE id = ?", (rows // 2,)).fetchone()[0]
    day = datetime.datetime.fromtimestamp(middle / 1000, datetime.timezone.utc).date()
    next_day = day + datetime.timedelta(days=1)
    day_ms = int(datetime.datetime.combine(day, datetime.time(), datetime.timezone.utc).timestamp() * 1000)
    text_columns = [f"(SELECT word FROM auditWord WHERE id = r.{c})" for c in ("actor", "action", "targetName", "clientAddress")]
    text_columns += ["r.parameters", "r.errorMessage"]
    text_where = "(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in text_columns) + ")"

    def text_page(text):
        pattern = f"%{text}%"
        return [row[0] for row in connection.execute(
            f"SELECT {STORED} FROM auditText JOIN auditRow r ON r.id = auditText.rowid "
            f"WHERE auditText.body LIKE ? AND {text_where} ORDER BY auditText.rowid DESC LIMIT 51", (pattern,) + (pattern,) * 6)]

    def ranged(extra_where="", extra_arguments=()):
        def run():
            first, last = time_bounds(connection, day_ms, day_ms + 86400000)
            return raw_page(connection, "r.id >= ? AND r.id <= ?" + extra_where, (first, last) + extra_arguments)
        return run

    target = hashlib.sha256(b"1234").hexdigest()
    return [
        ("newest page, no filter", "", lambda: raw_page(connection, "1", ())),
        ("page halfway down (before=)", f"before={rows // 2}", lambda: raw_page(connection, "r.id <= ?", (rows // 2 - 1,))),
        ("one actor", "actor=user7", lambda: raw_page(connection, f"r.actor = {WORD}", ("user7",))),
        ("action + outcome denied", "action=container.kill&outcome=denied",
         lambda: raw_page(connection, f"r.action = {WORD} AND r.outcome = {WORD}", ("container.kill", "denied"))),
        ("one engine + outcome error", "engine=ssh&outcome=error",
         lambda: raw_page(connection, f"r.engine = {WORD} AND r.outcome = {WORD}", ("ssh", "error"))),
        ("target by name", "target=svc-1234",
         lambda: raw_page(connection, f"(r.targetName = {WORD} OR (substr(r.targetId, 1, 6) = substr(?, 1, 6) AND r.targetId = ?))",
                          ("svc-1234", "svc-1234", "svc-1234"))),
        ("target by id prefix", f"target={target[:12]}",
         lambda: raw_page(connection, f"(r.targetName = {WORD} OR (substr(r.targetId, 1, 6) = ? AND substr(lower(hex(r.targetId)), 1, 12) = ?))",
                          (target[:12], bytes.fromhex(target[:12]), target[:12]))),
        ("one day (time range)", f"from={day}&to={next_day}", ranged()),
        ("one day + actor", f"from={day}&to={next_day}&actor=user3", ranged(f" AND r.actor = {WORD}", ("user3",))),
        ("rare free text", "q=needle", lambda: text_page("needle")),
        ("common free text", "q=daemon", lambda: text_page("daemon")),
        ("free text, no match", "q=nowhere-to-be-found", lambda: text_page("nowhere-to-be-found")),
    ]


def p99(values):
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * 99 // 100) - 1)]


def measure(database, port, user, password, pid, requests=100):
    session = sign_in(port, user, password)
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    rows = connection.execute("SELECT max(id) FROM auditRow").fetchone()[0]
    print(f"| case | rows on page | Berth median | Berth p99 | Berth max | SQLite median | ratio (medians) |")
    print(f"| --- | --- | --- | --- | --- | --- | --- |")
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
        print(f"| {name} | {len(shown)} | {berth:.1f} ms | {p99(berth_times) * 1000:.1f} ms | {max(berth_times) * 1000:.1f} ms | "
              f"{sqlite:.1f} ms | {berth / max(sqlite, 0.01):.1f} |")
    http_connection.close()

    # The whole trail as CSV, streamed: time, size, and Berth's private memory sampled meanwhile.
    before = private_mib(pid)
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], private_mib(pid))
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
    for row in connection.execute(f"SELECT {STORED} FROM auditRow r ORDER BY r.id DESC"):
        count += 1
    raw_seconds = time.perf_counter() - began
    database_size = sum(os.path.getsize(database + suffix) for suffix in ("", "-wal") if os.path.exists(database + suffix))
    print(f"\ndatabase: {database_size / 1e6:.0f} MB for {rows} rows, {database_size / rows:.0f} bytes a row; by table and index:")
    for name, size_bytes in connection.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 12"):
        print(f"  {name}: {size_bytes / rows:.1f} bytes a row")
    print(f"export: {lines - 1} rows, {size / 1e6:.0f} MB in {berth_seconds:.1f} s; SQLite reading the same stored rows {raw_seconds:.1f} s; "
          f"Berth private memory {before:.1f} MiB before, {peak[0]:.1f} MiB peak during, {private_mib(pid):.1f} MiB after")
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
