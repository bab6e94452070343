"""The overview of all engines against the slowest engine's raw list call, in the same run — each engine alone on
its own socket, the three at once on their sockets, and the three at once over the transports Berth uses (TLS with
the client certificate, SSH to `docker system dial-stdio`); then with one engine stalled and one down, against the
overview's per-engine timeout. Prints medians, the ratios and the worst times."""
import argparse
import os
import signal
import ssl
import statistics
import threading
import subprocess
import time
import http.client

from measure import UnixConnection, sign_in, timed


class TLSConnection(http.client.HTTPSConnection):
    """The engine's TCP port with its client certificate, verified against its CA, as Berth reaches it."""
    def __init__(self, address, directory):
        host, port = address.rsplit(":", 1)
        context = ssl.create_default_context(cafile=os.path.join(directory, "ca.pem"))
        context.load_cert_chain(os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem"))
        super().__init__(host, int(port), context=context)


class PipeSocket:
    """What http.client needs of a socket, over a process's standard input and output."""
    def __init__(self, process):
        self.process = process

    def sendall(self, data):
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def makefile(self, *args, **kwargs):
        # Each response closes its file when read: a file of its own over the same pipe, as a socket's makefile is.
        return os.fdopen(os.dup(self.process.stdout.fileno()), "rb")

    def close(self):
        pass


class SSHConnection(http.client.HTTPConnection):
    """The engine through OpenSSH's client running `docker system dial-stdio` on the host, as the docker CLI's
    ssh:// does (and Berth, with its own SSH client): one session, kept for every request."""
    def __init__(self, port, key, known_hosts):
        super().__init__("docker")
        self.command = ["ssh", "-q", "-p", port, "-i", key, "-o", f"UserKnownHostsFile={known_hosts}", "-o", "BatchMode=yes",
                        "root@127.0.0.1", "docker", "system", "dial-stdio"]
        self.process = None

    def connect(self):
        self.process = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        self.sock = PipeSocket(self.process)

    def close(self):
        super().close()
        if self.process:
            self.process.kill()
            self.process.wait()
            self.process = None


def together(connections, requests):
    """Each request made to every connection at once: the time until the last answered."""
    times = []
    for _ in range(requests):
        def ask(connection):
            connection.request("GET", "/containers/json?all=1", headers={"Host": "docker"})
            response = connection.getresponse()
            response.read()
        threads = [threading.Thread(target=ask, args=(connection,)) for connection in connections]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        times.append(time.perf_counter() - start)
    for connection in connections:
        connection.close()
    return statistics.median(times) * 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--containers", type=int, default=300)
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--socket", action="append", required=True, help="NAME=PATH of each engine's socket")
    parser.add_argument("--tls", required=True, help="NAME=HOST:PORT=DIR of the engine reached over TLS")
    parser.add_argument("--ssh", required=True, help="NAME=PORT=KEY=KNOWN_HOSTS of the engine reached over SSH")
    parser.add_argument("--stall", required=True, help="NAME=PID of a dockerd to stop with SIGSTOP")
    parser.add_argument("--down", required=True, help="NAME=DIR of an engine to stop with scripts/engine down")
    args = parser.parse_args()

    sockets = dict(item.split("=", 1) for item in args.socket)
    session = sign_in(args.port, args.user, args.password)
    berth = lambda: http.client.HTTPConnection("127.0.0.1", args.port)
    overview = "/?all=1"
    tls_name, tls_address, tls_directory = args.tls.split("=", 2)
    ssh_name, ssh_port, ssh_key, ssh_known = args.ssh.split("=", 3)

    def transports():
        """Each engine as Berth reaches it."""
        return [UnixConnection(sockets[name]) for name in sockets if name not in (tls_name, ssh_name)] + [
            TLSConnection(tls_address, tls_directory), SSHConnection(ssh_port, ssh_key, ssh_known)]

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
    # on two cores, what the engines themselves cost when asked together — on their sockets, and over the transports.
    warm = transports()
    together(warm, 3)
    on_sockets = together([UnixConnection(path) for path in sockets.values()], args.requests)
    over_transports = together(transports(), args.requests)
    per_page = {}
    for per in (100, 500):
        times, page_size = timed(berth, f"{overview}&per={per}", {"Cookie": session}, args.requests)
        per_page[per] = (statistics.median(times) * 1000, page_size)
    medians = {name: statistics.median(times) * 1000 for name, times in raw.items()}
    slowest = max(medians, key=medians.get)
    overview_median = statistics.median(overview_times) * 1000
    print(f"engines: {len(sockets)} x {args.containers} containers, requests each: {len(overview_times)}")
    for name, median in medians.items():
        print(f"engine {name} GET /containers/json?all=1: median {median:.1f} ms")
    print(f"Berth GET {overview} (all engines, {size} bytes): median {overview_median:.1f} ms")
    print(f"ratio to the slowest engine ({slowest}) alone on its socket: {overview_median / medians[slowest]:.2f}")
    print(f"the three raw calls at once on their sockets: median {on_sockets:.1f} ms; overview / that: {overview_median / on_sockets:.2f}")
    print(f"the three raw calls at once over unix, TLS and SSH: median {over_transports:.1f} ms;"
          f" overview / that: {overview_median / over_transports:.2f}")
    for per, (median, page_size) in per_page.items():
        print(f"Berth GET {overview}&per={per} ({page_size} bytes): median {median:.1f} ms;"
              f" / the calls over the transports: {median / over_transports:.2f}")

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
