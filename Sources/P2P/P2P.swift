// libp2p: multiaddr, peer IDs, multistream-select, Noise, Yamux, identify, ping, pnet. Format: formats/libp2p.md.
import NIOCore
