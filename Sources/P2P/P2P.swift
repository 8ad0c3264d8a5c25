// libp2p for tau: multiaddr, peer IDs and keys, multistream-select 1.0,
// Noise XX (/noise), Yamux (/yamux/1.0.0), identify, ping and private
// networks (PSK v1), wire-compatible with go-libp2p (Kubo) and py-libp2p.
// Format and rules: formats/libp2p.md. Entry point: `P2PHost`.
//
// Layout: pure state machines and codecs (Multistream.swift, Noise/,
// Yamux/, Pnet/, Protocols/) that do no I/O, and the SwiftNIO handlers and
// host that drive them (Host/).
