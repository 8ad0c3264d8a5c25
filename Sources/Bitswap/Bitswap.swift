// Bitswap 1.0.0/1.1.0/1.2.0 over libp2p streams. Format: formats/bitswap.md.
import P2P
