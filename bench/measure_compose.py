"""Compose benchmark: one N-service project deployed through Berth (saved, then deployed as a job, timed from the
deploy request to the job's end) against `docker-compose up -d` of the same file, alternating, in one run."""
import argparse
import http.client
import re
import statistics
import subprocess
import time
import urllib.parse

from measure import sign_in


def compose_file(services):
    lines = ["services:"]
    for index in range(1, services + 1):
        lines += [
            f"  svc{index}:",
            "    image: busybox:latest",
            "    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep 3600 & wait\"]",
            "    environment:",
            f"      INDEX: \"{index}\"",
            "    volumes: [\"data:/data\"]",
            "    restart: unless-stopped",
        ]
    lines += ["volumes:", "  data:", ""]
    return "\n".join(lines)


class Berth:
    def __init__(self, port, user, password):
        self.port = port
        self.session = sign_in(port, user, password)
        page = self.get("/projects/new")
        self.token = re.search(r'name="_csrf" value="([^"]+)"', page).group(1)

    def request(self, method, path, fields=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port)
        headers = {"Cookie": self.session}
        body = None
        if fields is not None:
            body = urllib.parse.urlencode(dict(fields, _csrf=self.token))
            headers.update({"Content-Type": "application/x-www-form-urlencoded", "Origin": f"http://127.0.0.1:{self.port}"})
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read().decode()
        connection.close()
        return response.status, response.getheader("Location"), text

    def get(self, path):
        return self.request("GET", path)[2]

    def post(self, path, fields):
        status, location, text = self.request("POST", path, fields)
        assert status == 303, (status, text[:500])
        return location

    def deploy(self, name, version, content_hash):
        """Seconds from the deploy request to the job's end (its page polled every 20 ms)."""
        started = time.perf_counter()
        location = self.post(f"/projects/{name}/deploy", {"version": str(version), "hash": content_hash})
        assert location.startswith("/jobs/"), location
        while True:
            page = self.get(location)
            state = re.search(r'id="job-state" class="state-(\w+)"', page).group(1)
            if state in ("succeeded", "failed", "cancelled", "interrupted"):
                elapsed = time.perf_counter() - started
                assert state == "succeeded", re.sub(r"<[^>]+>", "", page)[-2000:]
                return elapsed
            time.sleep(0.02)


def docker_compose(engine, name, path, *args):
    subprocess.run(["docker-compose", "-H", engine, "-p", name, "-f", path, *args], check=True, capture_output=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()

    text = compose_file(args.services)
    path = f"{args.work}/cli-compose.yaml"
    with open(path, "w") as file:
        file.write(text)
    berth = Berth(args.port, args.user, args.password)
    cli_times, berth_times = [], []
    for round_number in range(args.rounds):
        cli = f"cli{round_number}"
        started = time.perf_counter()
        docker_compose(args.engine, cli, path, "up", "-d")
        cli_times.append(time.perf_counter() - started)
        docker_compose(args.engine, cli, path, "down", "-v")

        name = f"berth{round_number}"
        berth.post("/projects", {"name": name, "compose": text, "env": "", "message": "bench"})
        plan = berth.get(f"/projects/{name}/plan")
        content_hash = re.search(r'name="hash" value="([0-9a-f]{64})"', plan).group(1)
        berth_times.append(berth.deploy(name, 1, content_hash))
        berth.post(f"/projects/{name}/down", {"volumes": "1"})
        print(f"round {round_number + 1}: docker-compose up -d {cli_times[-1]:.2f} s, Berth deploy {berth_times[-1]:.2f} s", flush=True)

    cli, mine = statistics.median(cli_times), statistics.median(berth_times)
    print(f"{args.services} services, median of {args.rounds}: docker-compose up -d {cli:.2f} s, Berth {mine:.2f} s, "
          f"ratio {mine / cli:.2f} (target <= 1.0)")


if __name__ == "__main__":
    main()
