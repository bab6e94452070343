"""The workload whose code `bench/code-order` puts together, and the order file made from it.

Berth runs under code_order_tracer; each phase below is recorded on its own (a SIGUSR1 to the tracer starts the next):
start-up; the rest of start-up after Berth gave back its start-up code (the tracer notices that one itself); the
sign-in page and an idle spell; a signed-in operator's tour of the pages and streams; shutdown. The order file lists
what ran after the release and on the idle sign-in page first, then the tour's, then start-up's, each in the order
it first ran: the linker lays the text out in that order, so the code an idle server runs sits together instead of
one function in each block the kernel maps whole around a fault (64 KiB, or a whole large folio of the page cache)."""
import argparse
import bisect
import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict

from measure import sign_in
from measure_footprint import post_form


def get(port, path, cookie=None, stream_seconds=0):
    """One request; a stream is read for `stream_seconds`. Returns the status."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Cookie": cookie} if cookie else {}
    if stream_seconds:
        headers["Accept"] = "text/event-stream"
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    if stream_seconds:
        connection.sock.settimeout(stream_seconds)
        ended = time.monotonic() + stream_seconds
        try:
            while time.monotonic() < ended and response.read1(65536):
                pass
        except OSError:
            pass
    else:
        response.read()
    connection.close()
    return response.status


def phase(tracer_pid, name):
    os.kill(tracer_pid, signal.SIGUSR1)
    time.sleep(0.5)  # the tracer re-arms every function before the phase's first request
    print(f"profile: phase {name}", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True, help="the release binary traced")
    parser.add_argument("--hits", required=True, help="where the tracer writes PHASE OFFSET lines")
    parser.add_argument("--out", required=True, help="the order file to write (one symbol a line)")
    parser.add_argument("--link-map", help="lld's -Map of the traced binary: functions in shared sections go last")
    parser.add_argument("tracer", nargs=argparse.REMAINDER, help="the tracer's command line, Berth's after its --")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--container", required=True, help="the name of a running container that prints lines")
    parser.add_argument("--idle-seconds", type=int, default=30)
    args = parser.parse_args()

    tracer = subprocess.Popen(args.tracer, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    listening = threading.Event()
    threading.Thread(target=read_output, args=(tracer, listening), daemon=True).start()
    try:
        run_workload(args, tracer, listening)
    finally:
        subprocess.run(["pkill", "-TERM", "--parent", str(tracer.pid)])  # Berth, which the tracer started
        try:
            tracer.wait(timeout=60)
        except subprocess.TimeoutExpired:
            tracer.kill()  # PTRACE_O_EXITKILL takes Berth with it
            tracer.wait()
    write_order(args.binary, args.hits, args.out, args.link_map)


def read_output(tracer, listening):
    """Berth's log and the tracer's messages: the tracer's are shown, Berth's "listening" is waited for."""
    for line in tracer.stdout:
        if line.startswith("code_order_tracer:"):
            print(line.rstrip(), file=sys.stderr, flush=True)
        elif "listening" in line:
            listening.set()


def run_workload(args, tracer, listening):
    # Ready when Berth says it listens: a request to find out would run the first request's one-time code (type
    # metadata, the first connection) before the next phase is armed, while StartupMemory's release has just erased
    # the start-up traps, and that code would be in no phase.
    if not listening.wait(timeout=120):
        sys.exit("Berth did not listen under the tracer within 120 s")
    time.sleep(2)  # StartupMemory gives back the start-up pages right after the server listens

    phase(tracer.pid, "sign-in page, then idle")
    for path in ["/login", "/css/berth.css", "/js/time.js", "/favicon.svg"]:
        get(args.port, path)
    time.sleep(args.idle_seconds)
    get(args.port, "/login")

    phase(tracer.pid, "an operator's tour")
    cookie = sign_in(args.port, args.user, args.password)
    container = args.container
    for path in ["/containers", "/containers?all=1", f"/containers/{container}", f"/containers/{container}/logs",
                 f"/containers/{container}/inspect", "/images", "/networks", "/volumes", "/events", "/system",
                 "/dashboards", "/audit", "/settings", "/logs"]:
        status = get(args.port, path, cookie)
        assert status < 500, (path, status)  # a page this role may not see (403) runs its code too
    for path in [f"/containers/{container}/logs/stream?follow=1", f"/containers/{container}/stats/stream",
                 "/events/stream"]:
        get(args.port, path, cookie, stream_seconds=3)
    status, location = post_form(args.port, cookie, "/dashboards", [
        ("title", "Profile"), ("kind", "names"), ("selection", container), ("showStatus", "on"),
        ("showStats", "on"), ("showEvents", "on"), ("showLogs", "on")])
    assert status == 303, status
    get(args.port, location, cookie)
    get(args.port, location + "/stream", cookie, stream_seconds=4)

    phase(tracer.pid, "shutdown")  # its own phase, so that shutdown's code is counted in none of the groups


def write_order(binary, hits, out, link_map=None):
    names = defaultdict(list)  # address -> every function symbol there (aliases too)
    sizes = {}
    listing = subprocess.run(["nm", "--defined-only", "-S", binary], capture_output=True, text=True, check=True).stdout
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) == 4 and fields[2] in "tTwW":
            address = int(fields[0], 16)
            names[address].append(fields[3])
            sizes[address] = max(sizes.get(address, 0), int(fields[1], 16))
    by_phase, kinds = defaultdict(list), {1: "start"}
    with open(hits) as records:
        for line in records:
            fields = line.split()
            if fields[0] == "#":  # "# PHASE signal|release": where the tracer started a phase, and why
                kinds[int(fields[1])] = fields[2]
            else:
                by_phase[int(fields[0])].append(int(fields[1], 16))
    signalled = sorted(phase for phase, kind in kinds.items() if kind == "signal")
    released = [phase for phase, kind in kinds.items() if kind == "release"]
    # First what runs after start-up's code is given back (the rest of start-up, the sign-in page, idle): that is
    # what an idle server keeps resident. Then the signed-in tour, then start-up itself.
    groups = [released + signalled[:1], signalled[1:2], [1]]
    shared = shared_section_test(link_map, sizes)
    listed, order = set(), []
    for group in groups:
        # A function in a section of its own moves alone; one in a prebuilt library's big .text (the standard
        # library's Swift.o, Foundation's files) brings its whole section. Those come after the group's own.
        for in_shared in (False, True):
            for phase in group:
                for address in by_phase[phase]:
                    if address not in listed and shared(address) == in_shared:
                        listed.add(address)
                        order.extend(names[address])
    with open(out, "w") as file:
        file.write("\n".join(order) + "\n")
    counts = ", ".join(f"phase {phase}: {len(by_phase[phase])}" for phase in sorted(by_phase))
    print(f"profile: {len(order)} symbols written to {out} (functions run: {counts})")


def shared_section_test(link_map, sizes):
    """From lld's -Map: whether a function shares its input section with others (then it cannot move alone)."""
    if not link_map:
        return lambda address: False
    sections = []
    with open(link_map) as lines:
        for line in lines:
            fields = line.split(None, 4)
            if len(fields) == 5 and ":(.text" in fields[4]:
                sections.append((int(fields[0], 16), int(fields[2], 16)))
    sections.sort()
    starts = [start for start, _ in sections]

    def shared(address):
        index = bisect.bisect_right(starts, address) - 1
        if index < 0:
            return False
        start, size = sections[index]
        return start <= address < start + size and size > 2 * sizes.get(address, 0) + 256

    return shared


if __name__ == "__main__":
    main()
