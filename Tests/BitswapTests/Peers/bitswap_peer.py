#!/usr/bin/env python3
"""A py-libp2p 0.8.1 Bitswap peer for tau's interop tests (Tests/BitswapTests/InteropTests.swift).

    bitswap_peer.py provide <bytes> <seed>
        adds <bytes> pseudo-random bytes (random.Random(<seed>)) with MerkleDag.add_file
        (CIDv1, raw leaves, 256 KiB chunks), listens on 127.0.0.1 and prints
        "ready <multiaddr> <root CID> <sha256 of the file>"; serves until "quit" on stdin.
    bitswap_peer.py fetch <multiaddr> <root CID>
        connects and fetches the file with MerkleDag.fetch_file from that peer; prints
        "ok <sha256> <bytes> <seconds>" or "error <type>: <message>".

With BITSWAP_PROTOCOLS set (a comma list such as /ipfs/bitswap/1.1.0) the
peer offers and tries only those versions.

Results go to stdout, one line each; diagnostics to stderr.
"""

import hashlib
import logging
import os
import random
import sys
import tempfile
import time

import multiaddr
import trio

from libp2p import new_host
from libp2p.bitswap import BitswapClient, MemoryBlockStore, cid_to_text
from libp2p.bitswap.dag import MerkleDag
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.x25519 import create_new_key_pair as create_new_x25519_key_pair
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport


def emit(line):
    print(line, flush=True)


def make_bitswap(host):
    bitswap = BitswapClient(host, MemoryBlockStore())
    restricted = os.environ.get("BITSWAP_PROTOCOLS")
    if restricted:
        bitswap.supported_protocols = restricted.split(",")
        bitswap.protocol_version = bitswap.supported_protocols[0]
    return bitswap


def make_host():
    key_pair = create_new_key_pair()
    noise = NoiseTransport(key_pair, noise_privkey=create_new_x25519_key_pair().private_key)
    return new_host(key_pair=key_pair, sec_opt={NOISE_PROTOCOL_ID: noise}, muxer_preference="YAMUX")


async def provide(size, seed):
    content = random.Random(seed).randbytes(size)
    host = make_host()
    async with host.run(listen_addrs=[multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        async with trio.open_nursery() as nursery:
            bitswap = make_bitswap(host)
            bitswap.set_nursery(nursery)
            await bitswap.start()
            dag = MerkleDag(bitswap)
            with tempfile.NamedTemporaryFile(delete=False) as handle:
                handle.write(content)
                path = handle.name
            try:
                root = await dag.add_file(path)
            finally:
                os.unlink(path)
            address = [a for a in host.get_addrs() if "/tcp/" in str(a)][0]
            emit("ready %s %s %s" % (address, cid_to_text(root), hashlib.sha256(content).hexdigest()))
            stdin = trio.lowlevel.FdStream(os.dup(0))
            buffer = b""
            while b"quit" not in buffer:
                chunk = await stdin.receive_some(4096)
                if not chunk:
                    break
                buffer += chunk
            await bitswap.stop()
            nursery.cancel_scope.cancel()


async def fetch(target, root, timeout):
    host = make_host()
    info = info_from_p2p_addr(multiaddr.Multiaddr(target))
    async with host.run(listen_addrs=[multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        async with trio.open_nursery() as nursery:
            bitswap = make_bitswap(host)
            bitswap.set_nursery(nursery)
            await bitswap.start()
            dag = MerkleDag(bitswap)
            try:
                with trio.fail_after(timeout):
                    await host.connect(info)
                    started = time.monotonic()
                    data, _ = await dag.fetch_file(root, peer_id=info.peer_id, timeout=timeout)
                    elapsed = time.monotonic() - started
                emit("ok %s %d %.3f" % (hashlib.sha256(data).hexdigest(), len(data), elapsed))
                status = 0
            except BaseException as error:  # noqa: BLE001 - report every failure as a line
                emit("error %s: %s" % (type(error).__name__, error))
                status = 1
            await bitswap.stop()
            nursery.cancel_scope.cancel()
            return status


def main(argv):
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if argv[:1] == ["provide"] and len(argv) == 3:
        trio.run(provide, int(argv[1]), int(argv[2]))
        return 0
    if argv[:1] == ["fetch"] and len(argv) >= 3:
        timeout = float(argv[3]) if len(argv) > 3 else 40.0
        return trio.run(fetch, argv[1], argv[2], timeout)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
