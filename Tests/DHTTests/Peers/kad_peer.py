#!/usr/bin/env python3
"""A py-libp2p 0.8.1 Kademlia DHT peer (/ipfs/kad/1.0.0) for tau's interop tests.

    kad_peer.py [server|client]
        listens on /ip4/127.0.0.1/tcp/0 (Noise, Yamux only), runs a KadDHT in SERVER
        mode (default; "client" registers no /ipfs/kad/1.0.0 handler) and prints
        "ready <peer ID> <multiaddr with /p2p/>". Then reads commands on stdin, one per
        line, and answers each with one line:
          connect <multiaddr> [force]  dials, waits (up to 5 s) for identify, adds the peer
                                       to the routing table -> "connected". Without
                                       "force" py-libp2p refuses a peer whose identify
                                       does not list /ipfs/kad/1.0.0 -> "error ...".
          provide <CID>                 ADD_PROVIDER to the closest peers it finds (a
                                       FIND_NODE lookup for the CID's multihash first)
                                       -> "provided" ("error ..." if no peer took it)
          findprovs <CID> <timeout>     -> "providers <JSON list of peer IDs>" (its own
                                       provider store first, then GET_PROVIDERS lookups)
          findpeer <peer ID> <timeout>  -> "peer <JSON list of multiaddrs>" ([] if not found)
          putvalue <key> <hex value>    PUT_VALUE to the closest peers it finds (stores
                                       locally too) -> "stored <number of peers that
                                       acknowledged>"
          getvalue <key> <timeout>      -> "value <hex>" or "notfound" (local store first)
          localprovs <CID>              -> "providers <JSON list>" from its own store only
          table                         -> "table <JSON list of peer IDs in its routing table>"
          quit
        Any failure answers "error <type>: <message>".

Keys for putvalue/getvalue: a text key is sent as its UTF-8 bytes and checked by
py-libp2p's validators first: "/pk/<hex of the peer ID multihash>" needs the
protobuf-encoded public key of that peer as value (py-libp2p's PublicKeyValidator
hex-decodes the part after /pk/), "/ipns/..." needs an IPNS record, any other
"/ns/..." or non-namespaced key is accepted unvalidated. "hex:<hex bytes>" sends those
raw bytes as the key (e.g. go-style "/pk/" + binary peer ID) without local validation,
using py-libp2p's per-peer PUT_VALUE/GET_VALUE calls directly.

With KAD_DEBUG=1 in the environment, libp2p.kad_dht logs at DEBUG level.
Results go to stdout, one line each; diagnostics to stderr.
"""

import json
import logging
import os
import sys

import multiaddr
import trio

from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.x25519 import create_new_key_pair as create_new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.kad_dht import DHTMode, KadDHT
from libp2p.kad_dht.common import PROTOCOL_ID, QUERY_TIMEOUT
from libp2p.kad_dht.kad_dht import _encode_key
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from libp2p.tools.anyio_service import background_trio_service

log = logging.getLogger("kad_peer")


def emit(line):
    print(line, flush=True)


def make_host():
    key_pair = create_new_key_pair()
    noise = NoiseTransport(key_pair, noise_privkey=create_new_x25519_key_pair().private_key)
    return new_host(
        key_pair=key_pair,
        sec_opt={NOISE_PROTOCOL_ID: noise},
        muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},  # Yamux only, no mplex
    )


def with_p2p(addr, peer_id):
    text = str(addr)
    return text if "/p2p/" in text else "%s/p2p/%s" % (text, peer_id)


def parse_key(text):
    """(bytes on the wire, text key or None for raw hex: keys)."""
    if text.startswith("hex:"):
        return bytes.fromhex(text[4:]), None
    return text.encode("utf-8"), text


class Peer:
    def __init__(self, host, dht):
        self.host = host
        self.dht = dht

    async def wait_identified(self, peer_id, seconds=5.0):
        with trio.move_on_after(seconds):
            while True:
                try:
                    if self.host.get_peerstore().get_protocols(peer_id):
                        return True
                except Exception:
                    pass
                await trio.sleep(0.05)
        return False

    async def connect(self, args):
        info = info_from_p2p_addr(multiaddr.Multiaddr(args[0]))
        force = len(args) > 1 and args[1] == "force"
        await self.host.connect(info)
        identified = await self.wait_identified(info.peer_id)
        added = await self.dht.routing_table.add_peer(
            PeerInfo(info.peer_id, info.addrs), skip_server_mode_check=force
        )
        if not added:
            try:
                protocols = self.host.get_peerstore().get_protocols(info.peer_id)
            except Exception:
                protocols = []
            return "error not added to routing table (identified=%s, protocols=%s)" % (
                identified, json.dumps(sorted(str(p) for p in protocols)))
        return "connected"

    async def provide(self, args):
        ok = await self.dht.provide(args[0])
        return "provided" if ok else "error provide reached no peer"

    async def findprovs(self, args):
        found = []
        with trio.move_on_after(float(args[1])):
            found = await self.dht.find_providers(args[0])
        ids = []
        for info in found:
            text = info.peer_id.to_base58()
            if text not in ids:
                ids.append(text)
        return "providers " + json.dumps(ids)

    async def localprovs(self, args):
        found = self.dht.provider_store.get_providers(_encode_key(args[0]))
        return "providers " + json.dumps(sorted({i.peer_id.to_base58() for i in found}))

    async def findpeer(self, args):
        target = ID.from_base58(args[0])
        info = None
        with trio.move_on_after(float(args[1])):
            info = await self.dht.find_peer(target)
        addrs = [str(a) for a in info.addrs] if info is not None else []
        return "peer " + json.dumps(addrs)

    async def putvalue(self, args):
        key_bytes, key_text = parse_key(args[0])
        value = bytes.fromhex(args[1]) if len(args) > 1 else b""
        dht = self.dht
        if key_text is not None:
            # What KadDHT.put_value does (kad_dht.py:1313), but counting acknowledgements.
            dht.validator.validate(key_text, value)
        dht.value_store.put(key_bytes, value)
        peers = [p for p in await dht.peer_routing.find_closest_peers_network(key_bytes)
                 if p != dht.local_peer_id]
        stored = 0
        for peer in peers:
            with trio.move_on_after(QUERY_TIMEOUT):
                if await dht.value_store._store_at_peer(peer, key_bytes, value):
                    stored += 1
        return "stored %d" % stored

    async def getvalue(self, args):
        key_bytes, key_text = parse_key(args[0])
        value = None
        with trio.move_on_after(float(args[1])):
            if key_text is not None:
                value = await self.dht.get_value(key_text)
            else:
                record = self.dht.value_store.get(key_bytes)
                if record is not None:
                    value = record.value
                else:
                    peers = await self.dht.peer_routing.find_closest_peers_network(key_bytes)
                    for peer in peers:
                        if peer == self.dht.local_peer_id:
                            continue
                        found = await self.dht.value_store._get_from_peer(peer, key_bytes)
                        if found:
                            value = found
                            break
        return "notfound" if value is None else "value " + value.hex()

    async def table(self, args):
        return "table " + json.dumps([p.to_base58() for p in self.dht.routing_table.get_peer_ids()])


async def main(mode):
    host = make_host()
    dht = KadDHT(host, mode)
    peer = Peer(host, dht)
    commands = {
        "connect": peer.connect, "provide": peer.provide, "findprovs": peer.findprovs,
        "localprovs": peer.localprovs, "findpeer": peer.findpeer,
        "putvalue": peer.putvalue, "getvalue": peer.getvalue, "table": peer.table,
    }
    async with host.run(listen_addrs=[multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        async with background_trio_service(dht):
            address = [a for a in host.get_addrs() if "/tcp/" in str(a)][0]
            emit("ready %s %s" % (host.get_id().to_base58(), with_p2p(address, host.get_id())))
            log.info("serving %s in %s mode", PROTOCOL_ID, mode.value)
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
                    handler = commands.get(words[0])
                    if handler is None:
                        emit("error unknown command %s" % words[0])
                        continue
                    try:
                        emit(await handler(words[1:]))
                    except Exception as error:  # noqa: BLE001 - report every failure as a line
                        log.warning("%s failed", words[0], exc_info=True)
                        emit("error %s: %s" % (type(error).__name__, str(error).replace("\n", " ")))
                if quit_now:
                    break


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if os.environ.get("KAD_DEBUG"):
        # The "libp2p" logger does not propagate (libp2p/utils/logging.py), so the
        # DHT logger gets a handler of its own.
        dht_log = logging.getLogger("libp2p.kad_dht")
        dht_log.setLevel(logging.DEBUG)
        dht_log.addHandler(logging.StreamHandler(sys.stderr))
        log.setLevel(logging.DEBUG)
    chosen = DHTMode.CLIENT if sys.argv[1:2] == ["client"] else DHTMode.SERVER
    trio.run(main, chosen)
