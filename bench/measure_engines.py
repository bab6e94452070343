"""The overview of all engines against the slowest engine's raw list call, in the same run; then with one engine
stalled and one down, against the overview's per-engine timeout. Prints medians, the ratio and the worst times."""
import argparse
import os
import signal
import statistics
import threading
import subprocess
import time
import http.client

from measure import UnixConnection, sign_in, timed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--containers", type=int, default=300)
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--socket", action="append", required=True, help="NAME=PATH of each engine's socket")
    parser.add_argument("--stall", required=True, help="NAME=PID of a dockerd to stop with SIGSTOP")
    parser.add_argument("--down", required=True, help="NAME=DIR of an engine to stop with scripts/engine down")
    args = parser.parse_args()

    sockets = dict(item.split("=", 1) for item in args.socket)
    session = sign_in(args.port, args.user, args.password)
    berth = lambda: http.client.HTTPConnection("127.0.0.1", args.port)
    overview = "/?all=1"

    # Warm up (negotiation over each transport, the row cache), then alternate rounds so drift hits all alike.
    for path in sockets.values():
        timed(lambda: UnixConnection(path), "/containers/json?all=1", {"Host": "docker"}, 3)
    _, size = timed(berth, overview, {"Cookie": session}, 3)
    raw = {name: [] for name in sockets}
    overview_times = []
    rounds = 3
    for _ in range(rounds):
        for name, path in sockets.items():
            times, _ = timed(lambda: UnixConnection(path), "/containers/json?all=1", {"Host": "docker"}, args.requests // rounds)
            raw[name] += times
        times, size = timed(berth, overview, {"Cookie": session}, args.requests // rounds)
        overview_times += times
    # The three raw calls at once, as the overview makes them: on a machine that runs all three daemons (and Berth)
    # on two cores, what the engines themselves cost when asked together.
    together = []
    connections = {name: UnixConnection(path) for name, path in sockets.items()}
    for _ in range(args.requests):
        def ask(connection):
            connection.request("GET", "/containers/json?all=1", headers={"Host": "docker"})
            response = connection.getresponse()
            response.read()
        threads = [threading.Thread(target=ask, args=(connection,)) for connection in connections.values()]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        together.append(time.perf_counter() - start)
    for connection in connections.values():
        connection.close()
    medians = {name: statistics.median(times) * 1000 for name, times in raw.items()}
    slowest = max(medians, key=medians.get)
    overview_median = statistics.median(overview_times) * 1000
    print(f"engines: {len(sockets)} x {args.containers} containers, requests each: {len(overview_times)}")
    for name, median in medians.items():
        print(f"engine {name} GET /containers/json?all=1: median {median:.1f} ms")
    print(f"Berth GET {overview} (all engines, {size} bytes): median {overview_median:.1f} ms")
    print(f"ratio to the slowest engine ({slowest}): {overview_median / medians[slowest]:.2f}")
    together_median = statistics.median(together) * 1000
    print(f"the three raw calls at once: median {together_median:.1f} ms; overview / that: {overview_median / together_median:.2f}")

    def worst_overview(label, samples=5):
        times, _ = timed(berth, overview, {"Cookie": session}, samples)
        worst = max(times)
        print(f"{label}: overview median {statistics.median(times) * 1000:.0f} ms, worst {worst * 1000:.0f} ms"
              f" (timeout {args.timeout * 1000:.0f} ms; worst / timeout {worst / args.timeout:.2f})")

    stalled, pid = args.stall.split("=", 1)
    os.kill(int(pid), signal.SIGSTOP)
    try:
        worst_overview(f"engine {stalled} stalled (SIGSTOP)")
    finally:
        os.kill(int(pid), signal.SIGCONT)
    down, directory = args.down.split("=", 1)
    subprocess.run(["scripts/engine", "down"], env={**os.environ, "BERTH_ENGINE_DIR": directory}, check=True,
                   capture_output=True)
    worst_overview(f"engine {down} down")


if __name__ == "__main__":
    main()
