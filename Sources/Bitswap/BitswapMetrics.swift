// Bitswap's counters for swift-metrics (Prometheus names). Format:
// formats/bitswap.md, section 6.

import Metrics

/// `tau_bitswap_blocks_received_total`, `tau_bitswap_received_bytes_total`,
/// `tau_bitswap_duplicate_blocks_total`, `tau_bitswap_blocks_sent_total`,
/// `tau_bitswap_sent_bytes_total`, `tau_bitswap_messages_total{direction="in"|"out"}`,
/// `tau_bitswap_misbehaving_peers_total`, `tau_bitswap_refused_streams_total`
/// (streams reset for a bad message, a wantlist over the cap or the stream cap),
/// `tau_bitswap_wants_answered_on_add_total` (peers' waiting wants answered
/// because the block was added locally, without the peer asking again).
final class BitswapMetrics: Sendable {
    let blocksReceived: Counter
    let bytesReceived: Counter
    let duplicateBlocks: Counter
    let blocksSent: Counter
    let bytesSent: Counter
    let messagesIn: Counter
    let messagesOut: Counter
    let misbehavingPeers: Counter
    let refusedStreams: Counter
    let wantsAnsweredOnAdd: Counter

    init(factory: any MetricsFactory) {
        func counter(_ label: String, _ dimensions: [(String, String)] = []) -> Counter {
            Counter(label: label, dimensions: dimensions, factory: factory)
        }
        blocksReceived = counter("tau_bitswap_blocks_received_total")
        bytesReceived = counter("tau_bitswap_received_bytes_total")
        duplicateBlocks = counter("tau_bitswap_duplicate_blocks_total")
        blocksSent = counter("tau_bitswap_blocks_sent_total")
        bytesSent = counter("tau_bitswap_sent_bytes_total")
        messagesIn = counter("tau_bitswap_messages_total", [("direction", "in")])
        messagesOut = counter("tau_bitswap_messages_total", [("direction", "out")])
        misbehavingPeers = counter("tau_bitswap_misbehaving_peers_total")
        refusedStreams = counter("tau_bitswap_refused_streams_total")
        wantsAnsweredOnAdd = counter("tau_bitswap_wants_answered_on_add_total")
    }
}
