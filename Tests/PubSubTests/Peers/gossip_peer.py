#!/usr/bin/env python3
"""A py-libp2p 0.8.1 GossipSub peer for tau's interop tests (Tests/PubSubTests/InteropTests.swift).

    gossip_peer.py TOPIC [PROTOCOL]
        listens on 127.0.0.1 (Noise, Yamux), subscribes to TOPIC with GossipSub
        (PROTOCOL: /meshsub/1.1.0 by default, or /meshsub/1.0.0, /floodsub/1.0.0)
        and prints "ready <multiaddr>". Then reads commands on stdin, one per line:
          connect <multiaddr>      dials and prints "connected"
          publish <hex>            publishes the bytes on TOPIC and prints "published"
          mesh                     prints "mesh <peer IDs in our mesh for TOPIC, comma-separated>"
          quit
        Each message received on TOPIC is printed as "message <from peer ID> <hex data>".

Results go to stdout, one line each; diagnostics to stderr.
"""

import logging
from contextlib import nullcontext
import os
import sys

import multiaddr
import trio

from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.x25519 import create_new_key_pair as create_new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.pubsub.floodsub import FloodSub
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.pubsub import Pubsub
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.tools.anyio_service import background_trio_service


def emit(line):
    print(line, flush=True)


async def main(topic, protocol):
    key_pair = create_new_key_pair()
    noise = NoiseTransport(key_pair, noise_privkey=create_new_x25519_key_pair().private_key)
    host = new_host(key_pair=key_pair, sec_opt={NOISE_PROTOCOL_ID: noise}, muxer_preference="YAMUX")
    if protocol == "/floodsub/1.0.0":
        router = FloodSub(protocols=[TProtocol(protocol)])
    else:
        router = GossipSub(protocols=[TProtocol(protocol)], degree=6, degree_low=4, degree_high=12,
                           heartbeat_initial_delay=0.1, heartbeat_interval=1)
    pubsub = Pubsub(host, router)
    async with host.run(listen_addrs=[multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        async with background_trio_service(pubsub):
            # FloodSub is no service of its own (it has no heartbeat).
            async with background_trio_service(router) if isinstance(router, GossipSub) else nullcontext():
                await pubsub.wait_until_ready()
                subscription = await pubsub.subscribe(topic)
                address = [a for a in host.get_addrs() if "/tcp/" in str(a)][0]
                emit("ready %s" % address)
                async with trio.open_nursery() as nursery:
                    async def receive():
                        while True:
                            message = await subscription.get()
                            emit("message %s %s" % (ID(message.from_id).to_base58(), message.data.hex()))
                    nursery.start_soon(receive)
                    stdin = trio.lowlevel.FdStream(os.dup(0))
                    buffer = b""
                    while True:
                        chunk = await stdin.receive_some(4096)
                        if not chunk:
                            break
                        buffer += chunk
                        quit_now = False
                        while b"\n" in buffer:
                            line, buffer = buffer.split(b"\n", 1)
                            words = line.decode().split()
                            if not words:
                                continue
                            if words[0] == "quit":
                                quit_now = True
                                break
                            if words[0] == "connect":
                                await host.connect(info_from_p2p_addr(multiaddr.Multiaddr(words[1])))
                                emit("connected")
                            elif words[0] == "publish":
                                await pubsub.publish(topic, bytes.fromhex(words[1]))
                                emit("published")
                            elif words[0] == "mesh":
                                members = getattr(router, "mesh", {}).get(topic, set())
                                emit("mesh " + ",".join(sorted(p.to_base58() for p in members)))
                        if quit_now:
                            break
                    nursery.cancel_scope.cancel()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    trio.run(main, sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "/meshsub/1.1.0")
