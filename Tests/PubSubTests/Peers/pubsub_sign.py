"""Signs and verifies pubsub messages the way py-libp2p 0.8.1 does, for
tau's PubSubTests (formats/pubsub.md section 3).

  pubsub_sign.py sign ed25519|rsa   prints the hex of an RPC with one signed message
  pubsub_sign.py verify HEX         prints "ok N" when py-libp2p accepts all N messages, else "bad I"
"""
import sys

from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.validators import PUBSUB_SIGNING_PREFIX, signature_validator


def sign(kind: str) -> None:
    if kind == "rsa":
        from libp2p.crypto.rsa import create_new_key_pair
    else:
        from libp2p.crypto.ed25519 import create_new_key_pair
    pair = create_new_key_pair()
    msg = rpc_pb2.Message(
        from_id=ID.from_pubkey(pair.public_key).to_bytes(),
        data=b"hello from py-libp2p",
        seqno=(1234567).to_bytes(8, "big"),
        topicIDs=["tau-test"],  # py-libp2p keeps v1.0's repeated field 4
    )
    # As Pubsub.publish: the signature covers the prefix and the message
    # without signature and key.
    msg.signature = pair.private_key.sign(PUBSUB_SIGNING_PREFIX.encode() + msg.SerializeToString())
    msg.key = pair.public_key.serialize()
    print(rpc_pb2.RPC(publish=[msg]).SerializeToString().hex())


def verify(text: str) -> None:
    rpc = rpc_pb2.RPC()
    rpc.ParseFromString(bytes.fromhex(text))
    for index, msg in enumerate(rpc.publish):
        if not signature_validator(msg):
            print(f"bad {index}")
            return
    print(f"ok {len(rpc.publish)}")


if __name__ == "__main__":
    if sys.argv[1] == "sign":
        sign(sys.argv[2])
    else:
        verify(sys.argv[2])
