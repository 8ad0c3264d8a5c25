#!/usr/bin/env python3
"""A py-libp2p 0.8.1 peer for tau's interop tests (Tests/P2PTests/InteropTests.swift).

    peer.py listen [options]            listen on 127.0.0.1, print "ready <multiaddr>", then
                                        answer commands on stdin (one per line):
                                          info <peer-id>   what identify taught us about a peer
                                          quit
    peer.py dial <multiaddr> <scenario> [options]
        ping                            three pings; "ok ping <rtt ms>..."
        identify                        ask /ipfs/id/1.0.0 and print the answer as JSON (with
                                        "localPeer": this peer's own ID)
        echo <streams> <bytes>          <streams> concurrent /echo/1.0.0 streams, each sending
                                        <bytes> random bytes and reading them back;
                                        "ok echo <seconds> <sha256 of all sent> <sha256 of all received>"
        connect                         connect only; "ok connect"
        send <bytes>                    one /bench/sink/1.0.0 stream carrying <bytes> bytes (the
                                        sink answers with the count, 8 bytes big-endian);
                                        "ok send <seconds> <MB/s>"
    options:
        --psk <64 hex digits>           py-libp2p's own private network layer (Salsa20, 8-byte nonce)
        --spec-pnet                     with --psk: the spec's layer instead (XSalsa20, 24-byte nonce),
                                        as go-libp2p and tau speak it
        --seed <64 hex digits>          Ed25519 identity seed
        --key <type>                    the identity key's type: ed25519 (default), rsa (2048 bits),
                                        rsa-<bits>, secp256k1 (py-libp2p's own keys) or ecdsa
                                        (P-256, a key class below: py-libp2p 0.8.1 has none that
                                        follows the peer-ID spec)

Every listener registers /echo/1.0.0 (echoes until EOF) and /bench/sink/1.0.0 (reads to
the end, answers with the count) besides py-libp2p's defaults.
Results go to stdout, one line each; diagnostics to stderr. Exit status 0 unless the
scenario failed.
"""

import hashlib
import json
import os
import sys
import time

import multiaddr
import trio
from Crypto.Cipher import Salsa20
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair, KeyType, PrivateKey, PublicKey
from libp2p.crypto.rsa import create_new_key_pair as create_new_rsa_key_pair
from libp2p.crypto.secp256k1 import create_new_key_pair as create_new_secp256k1_key_pair
from libp2p.crypto.x25519 import create_new_key_pair as create_new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.host.ping import PingService
from libp2p.identity.identify.identify import parse_identify_response
from libp2p.network.stream.exceptions import StreamEOF, StreamReset
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.security.pnet.psk_conn import PskConn
import libp2p.network.swarm as swarm_module

ECHO = TProtocol("/echo/1.0.0")
SINK = TProtocol("/bench/sink/1.0.0")
IDENTIFY = TProtocol("/ipfs/id/1.0.0")


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def emit(line):
    print(line, flush=True)


# --- The spec's private network layer (PSK v1): XSalsa20 with a 24-byte nonce ---

def _rotl(v, n):
    return ((v << n) | (v >> (32 - n))) & 0xFFFFFFFF


def hsalsa20(key, nonce16):
    """HSalsa20 (one Salsa20 core without the final addition), for the XSalsa20 subkey."""
    words = lambda b: [int.from_bytes(b[i:i + 4], "little") for i in range(0, len(b), 4)]
    k, n = words(key), words(nonce16)
    c = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    x = [c[0], k[0], k[1], k[2], k[3], c[1], n[0], n[1], n[2], n[3], c[2], k[4], k[5], k[6], k[7], c[3]]

    def qr(a, b, cc, d):
        x[b] ^= _rotl((x[a] + x[d]) & 0xFFFFFFFF, 7)
        x[cc] ^= _rotl((x[b] + x[a]) & 0xFFFFFFFF, 9)
        x[d] ^= _rotl((x[cc] + x[b]) & 0xFFFFFFFF, 13)
        x[a] ^= _rotl((x[d] + x[cc]) & 0xFFFFFFFF, 18)

    for _ in range(10):
        qr(0, 4, 8, 12); qr(5, 9, 13, 1); qr(10, 14, 2, 6); qr(15, 3, 7, 11)
        qr(0, 1, 2, 3); qr(5, 6, 7, 4); qr(10, 11, 8, 9); qr(15, 12, 13, 14)
    return b"".join(x[i].to_bytes(4, "little") for i in (0, 5, 10, 15, 6, 7, 8, 9))


def xsalsa20(key, nonce24):
    return Salsa20.new(key=hsalsa20(key, nonce24[:16]), nonce=nonce24[16:])


class SpecPskConn(PskConn):
    """py-libp2p's PskConn with the spec's 24-byte nonce and XSalsa20."""

    async def write(self, data):
        if self.write_cipher is None:
            nonce = os.urandom(24)
            await self._conn.write(nonce)
            self.write_cipher = xsalsa20(self._psk, nonce)
        await self._conn.write(self.write_cipher.encrypt(data))

    async def read(self, n=None):
        if self.read_cipher is None:
            nonce = b""
            while len(nonce) < 24:
                chunk = await self._conn.read(24 - len(nonce))
                if not chunk:
                    raise ValueError("short nonce from stream")
                nonce += chunk
            self.read_cipher = xsalsa20(self._psk, nonce)
        data = await self._conn.read(n)
        if not data:
            return b""
        return self.read_cipher.decrypt(data)


def use_spec_pnet():
    swarm_module.new_protected_conn = lambda conn, psk: SpecPskConn(conn, psk)


# --- ECDSA P-256 identities as the peer-ID spec says: DER SubjectPublicKeyInfo, DER signatures over SHA-256 ---

class EcdsaPublicKey(PublicKey):
    def __init__(self, impl):
        self.impl = impl

    def to_bytes(self):
        return self.impl.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    def get_type(self):
        return KeyType.ECDSA

    def verify(self, data, signature):
        try:
            self.impl.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True


class EcdsaPrivateKey(PrivateKey):
    def __init__(self, impl):
        self.impl = impl

    def to_bytes(self):
        return self.impl.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption())

    def get_type(self):
        return KeyType.ECDSA

    def sign(self, data):
        return self.impl.sign(data, ec.ECDSA(hashes.SHA256()))

    def get_public_key(self):
        return EcdsaPublicKey(self.impl.public_key())


def make_key_pair(options):
    kind = options.get("key", "ed25519")
    if kind == "ed25519":
        return create_new_key_pair(bytes.fromhex(options["seed"]) if options.get("seed") else None)
    if kind == "rsa":
        return create_new_rsa_key_pair(2048)
    if kind.startswith("rsa-"):
        return create_new_rsa_key_pair(int(kind[4:]))
    if kind == "secp256k1":
        return create_new_secp256k1_key_pair()
    if kind == "ecdsa":
        private = EcdsaPrivateKey(ec.generate_private_key(ec.SECP256R1()))
        return KeyPair(private, private.get_public_key())
    raise ValueError("unknown key type " + kind)


# --- Host ---

def make_host(options):
    key_pair = make_key_pair(options)
    noise = NoiseTransport(key_pair, noise_privkey=create_new_x25519_key_pair().private_key)
    return new_host(key_pair=key_pair, sec_opt={NOISE_PROTOCOL_ID: noise}, muxer_preference="YAMUX",
                    psk=options.get("psk"))


async def echo_handler(stream):
    try:
        while True:
            data = await stream.read(65536)
            if not data:
                break
            await stream.write(data)
    except StreamEOF:
        pass
    except StreamReset:
        return
    await stream.close()


async def sink_handler(stream):
    count = 0
    try:
        while True:
            data = await stream.read(1 << 20)
            if not data:
                break
            count += len(data)
    except StreamEOF:
        pass
    await stream.write(count.to_bytes(8, "big"))
    await stream.close()


async def read_until_eof(stream, limit):
    chunks = []
    total = 0
    while True:
        try:
            data = await stream.read(65536)
        except StreamEOF:
            break
        if not data:
            break
        total += len(data)
        if total > limit:
            raise ValueError("more than %d bytes" % limit)
        chunks.append(data)
    return b"".join(chunks)


async def scenario(host, target, name, args):
    info = info_from_p2p_addr(target)
    if name == "connect":
        await host.connect(info)
        return "ok connect"
    if name == "ping":
        await host.connect(info)
        rtts = await PingService(host).ping(info.peer_id, ping_amt=3)
        return "ok ping " + " ".join(str(r) for r in rtts)
    if name == "identify":
        await host.connect(info)
        stream = await host.new_stream(info.peer_id, [IDENTIFY])
        data = await read_until_eof(stream, 1 << 16)
        message = parse_identify_response(data)
        await stream.close()
        return "ok identify " + json.dumps({
            "protocolVersion": message.protocol_version,
            "agentVersion": message.agent_version,
            "publicKey": message.public_key.hex(),
            "listenAddrs": [str(multiaddr.Multiaddr(a)) for a in message.listen_addrs],
            "observedAddr": str(multiaddr.Multiaddr(message.observed_addr)) if message.observed_addr else None,
            "protocols": list(message.protocols),
            "framed": data[0] != 0x0A,
            "localPeer": host.get_id().to_base58(),
        })
    if name == "echo":
        streams, size = int(args[0]), int(args[1])
        await host.connect(info)
        sent = [None] * streams
        received = [None] * streams
        started = time.monotonic()

        async def one(index):
            stream = await host.new_stream(info.peer_id, [ECHO])
            data = os.urandom(size)
            sent[index] = data

            async def writer():
                view = memoryview(data)
                for offset in range(0, size, 256 * 1024):
                    await stream.write(bytes(view[offset:offset + 256 * 1024]))
                await stream.close()

            async def reader():
                received[index] = await read_until_eof(stream, size)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(writer)
                nursery.start_soon(reader)

        async with trio.open_nursery() as nursery:
            for index in range(streams):
                nursery.start_soon(one, index)
        elapsed = time.monotonic() - started
        digest_sent = hashlib.sha256(b"".join(sent)).hexdigest()
        digest_received = hashlib.sha256(b"".join(received)).hexdigest()
        return "ok echo %.3f %s %s" % (elapsed, digest_sent, digest_received)
    if name == "send":
        size = int(args[0])
        await host.connect(info)
        stream = await host.new_stream(info.peer_id, [SINK])
        chunk = os.urandom(1 << 20)
        started = time.monotonic()
        sent = 0
        while sent < size:
            piece = min(len(chunk), size - sent)
            await stream.write(chunk if piece == len(chunk) else chunk[:piece])
            sent += piece
        await stream.close()
        answer = b""
        while len(answer) < 8:
            data = await stream.read(8 - len(answer))
            if not data:
                break
            answer += data
        elapsed = time.monotonic() - started
        if int.from_bytes(answer, "big") != size:
            raise ValueError("the sink counted %r" % answer)
        return "ok send %.3f %.1f MB/s" % (elapsed, size / elapsed / 1e6)
    raise ValueError("unknown scenario " + name)


async def listen(options):
    host = make_host(options)
    host.set_stream_handler(ECHO, echo_handler)
    host.set_stream_handler(SINK, sink_handler)
    async with host.run(listen_addrs=[multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        address = [a for a in host.get_addrs() if "/tcp/" in str(a)][0]
        emit("ready %s" % address)
        stdin = trio.lowlevel.FdStream(os.dup(0))
        buffer = b""
        while True:
            chunk = await stdin.receive_some(4096)
            if not chunk:
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                words = line.decode().split()
                if not words:
                    continue
                if words[0] == "quit":
                    return
                if words[0] == "info":
                    peer = ID.from_base58(words[1])
                    store = host.get_peerstore()
                    try:
                        agent = store.get(peer, "AgentVersion")
                    except Exception:
                        agent = None
                    emit("info " + json.dumps({
                        "connected": peer in host.get_connected_peers(),
                        "protocols": sorted(store.get_protocols(peer)) if store.has_peer(peer) else [],
                        "addrs": [str(a) for a in store.addrs(peer)] if store.has_peer(peer) else [],
                        "agent": agent,
                    }))


async def dial(target, name, args, options):
    host = make_host(options)
    host.set_stream_handler(ECHO, echo_handler)
    async with host.run(listen_addrs=[multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        try:
            with trio.fail_after(float(options.get("timeout", 25))):
                emit(await scenario(host, multiaddr.Multiaddr(target), name, args))
            return 0
        except BaseException as error:  # noqa: BLE001 - report every failure as a line
            emit("error %s: %s" % (type(error).__name__, error))
            return 1


def main(argv):
    options = {}
    positional = []
    i = 0
    while i < len(argv):
        if argv[i] == "--psk":
            options["psk"] = argv[i + 1]
            i += 2
        elif argv[i] == "--seed":
            options["seed"] = argv[i + 1]
            i += 2
        elif argv[i] == "--key":
            options["key"] = argv[i + 1]
            i += 2
        elif argv[i] == "--timeout":
            options["timeout"] = argv[i + 1]
            i += 2
        elif argv[i] == "--spec-pnet":
            use_spec_pnet()
            i += 1
        else:
            positional.append(argv[i])
            i += 1
    if positional[:1] == ["listen"]:
        trio.run(listen, options)
        return 0
    if positional[:1] == ["dial"] and len(positional) >= 3:
        return trio.run(dial, positional[1], positional[2], positional[3:], options)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
