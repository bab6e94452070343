"""Many people at once (issue 24): sign-in times, Berth beside Cockpit (same users, same PAM, one at a time, same run);
then every person signed in and browsing a mix of pages for a while, with 100 sign-ins a minute in the second half;
Berth's private memory sampled throughout."""
import argparse
import base64
import http.client
import multiprocessing
import random
import statistics
import threading
import time

from measure import private_mib, sign_in_timed


def percentile(values, share):
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * share // 100) - 1)] if ordered else float("nan")


def cockpit_sign_in(port, user, password):
    """Cockpit's login request (what its login page sends): GET /cockpit/login with the password in Basic auth."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
    began = time.perf_counter()
    connection.request("GET", "/cockpit/login", headers={"Authorization": f"Basic {credentials}"})
    response = connection.getresponse()
    response.read()
    took = time.perf_counter() - began
    assert response.status == 200, (user, response.status)
    connection.close()
    return took


def person(port, session, containers, until, seed, results):
    """One person: a browser's keep-alive connection, a page, a pause to read it, another page."""
    rng = random.Random(seed)
    # (One engine: `/` sends to its list, so the overview is not in the mix.)
    mix = [("list", "/containers", 35), ("images", "/images", 15), ("container", "/containers/{id}", 25),
           ("logs page", "/containers/{id}/logs", 10), ("audit", "/audit", 10), ("events page", "/events", 5)]
    weights = [weight for _, _, weight in mix]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while time.time() < until:
        kind, path, _ = rng.choices(mix, weights)[0]
        path = path.replace("{id}", rng.choice(containers))
        began = time.perf_counter()
        try:
            connection.request("GET", path, headers={"Cookie": session})
            response = connection.getresponse()
            response.read()
            status = response.status
        except Exception as error:  # a dropped connection is an error, counted, and the person goes on
            status = f"{type(error).__name__}"
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        results.append((time.time(), kind, time.perf_counter() - began, status))
        time.sleep(rng.uniform(0.5, 2.5))
    connection.close()


def people_process(port, sessions, containers, until, seed, queue):
    """A share of the people, in a process of their own so that the client's interpreter is not the limit."""
    results = []
    threads = [threading.Thread(target=person, args=(port, session, containers, until, seed * 1000 + index, results))
               for index, session in enumerate(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put(results)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cockpit-port", type=int)
    parser.add_argument("--users", required=True, help="comma-separated")
    parser.add_argument("--password", required=True)
    parser.add_argument("--containers", required=True, help="comma-separated ids")
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--processes", type=int, default=4)
    args = parser.parse_args()
    users = args.users.split(",")
    containers = args.containers.split(",")

    # 1. Sign-in, one at a time, alternating Berth and Cockpit so that drift hits both alike.
    sessions, berth_times, cockpit_times = [], [], []
    for index, user in enumerate(users):
        session, took = sign_in_timed(args.port, user, args.password)
        sessions.append(session)
        berth_times.append(took)
        if args.cockpit_port and index < 60:
            cockpit_times.append(cockpit_sign_in(args.cockpit_port, user, args.password))
    print(f"sign-in, one at a time: Berth median {statistics.median(berth_times) * 1000:.0f} ms "
          f"(p90 {percentile(berth_times, 90) * 1000:.0f} ms, {len(berth_times)} people)", end="")
    if cockpit_times:
        print(f"; Cockpit median {statistics.median(cockpit_times) * 1000:.0f} ms "
              f"(p90 {percentile(cockpit_times, 90) * 1000:.0f} ms, {len(cockpit_times)} people); "
              f"ratio {statistics.median(berth_times) / statistics.median(cockpit_times):.2f}")
    else:
        print()

    # 2. Everyone browsing; sign-ins at 100 a minute in the second half.
    started = time.time()
    until = started + args.seconds
    half = started + args.seconds / 2
    queue = multiprocessing.Queue()
    shares = [sessions[index::args.processes] for index in range(args.processes)]
    processes = [multiprocessing.Process(target=people_process, args=(args.port, share, containers, until, index, queue))
                 for index, share in enumerate(shares)]
    for process in processes:
        process.start()
    memory = []
    sign_ins = []

    def sample():
        while time.time() < until:
            memory.append((time.time() - started, private_mib(args.pid)))
            time.sleep(5)

    sampler = threading.Thread(target=sample)
    sampler.start()
    time.sleep(max(0, half - time.time()))
    index = 0
    while time.time() < until - 1:
        began = time.time()
        _, took = sign_in_timed(args.port, users[index % len(users)], args.password)
        sign_ins.append(took)
        index += 1
        time.sleep(max(0, 0.6 - (time.time() - began)))
    results = []
    for _ in processes:
        results.extend(queue.get())
    for process in processes:
        process.join()
    sampler.join()

    warm = started + 30
    quiet = [r for r in results if warm <= r[0] < half]
    busy = [r for r in results if r[0] >= half]
    errors = [r for r in results if r[3] != 200]
    print(f"\n{len(users)} people for {args.seconds} s: {len(results)} pages, {len(errors)} errors "
          f"({', '.join(sorted({str(r[3]) for r in errors})) or 'none'})")
    print("| part | pages | pages/s | median | p99 | max |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, part, span in [("after 30 s of warm-up, no sign-ins", quiet, half - warm),
                             (f"second half, {len(sign_ins)} sign-ins ({len(sign_ins) / (args.seconds / 2) * 60:.0f} a minute)", busy, args.seconds / 2)]:
        times = [r[2] for r in part]
        print(f"| {name} | {len(times)} | {len(times) / span:.0f} | {statistics.median(times) * 1000:.1f} ms | "
              f"{percentile(times, 99) * 1000:.1f} ms | {max(times) * 1000:.1f} ms |")
    print("\n| page | pages | median | p99 |")
    print("| --- | --- | --- | --- |")
    for kind in sorted({r[1] for r in results}):
        times = [r[2] for r in results if r[1] == kind and r[0] >= warm]
        print(f"| {kind} | {len(times)} | {statistics.median(times) * 1000:.1f} ms | {percentile(times, 99) * 1000:.1f} ms |")
    if sign_ins:
        print(f"\nsign-ins while everyone browsed: median {statistics.median(sign_ins) * 1000:.0f} ms, "
              f"p99 {percentile(sign_ins, 99) * 1000:.0f} ms")
    after_warm = [m for t, m in memory if t >= 30]
    print(f"Berth private memory: {memory[0][1]:.1f} MiB at the start, {after_warm[0]:.1f} MiB after warm-up, "
          f"{memory[len(memory) // 2][1]:.1f} MiB at half time, {memory[-1][1]:.1f} MiB at the end (highest {max(m for _, m in memory):.1f})")
    assert not errors, errors[:5]


if __name__ == "__main__":
    main()
