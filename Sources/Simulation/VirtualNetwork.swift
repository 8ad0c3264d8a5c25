// A deterministic discrete-event network: a virtual clock, a priority queue
// of deliveries and timer ticks, latency with jitter, loss, partitions,
// crashes and restarts, all driven by one seed. Any sans-I/O state machine
// plugs in as a `SimulatedNode`. First used by membership: formats/membership.md, section 11.

import Membership

/// A message in flight from one node to another.
public struct Envelope<ID: Hashable & Sendable, Message: Sendable>: Sendable {
    public var to: ID
    public var message: Message
    public init(to: ID, message: Message) {
        self.to = to
        self.message = message
    }
}

/// A state machine the network drives: it reacts to messages and to the
/// passing of time, and answers with messages to send. Time is the virtual
/// time since the simulation started.
public protocol SimulatedNode: Sendable {
    associatedtype ID: Hashable & Comparable & Sendable
    associatedtype Message: Sendable

    var id: ID { get }
    /// When this node next wants `tick`.
    var nextDeadline: Duration { get }
    mutating func tick(now: Duration) -> [Envelope<ID, Message>]
    mutating func receive(_ message: Message, from: ID, now: Duration) -> [Envelope<ID, Message>]
    /// Bytes `message` takes on the wire, for the byte counters.
    func wireSize(of message: Message) -> Int
}

/// How the virtual network behaves.
public struct NetworkConditions: Hashable, Sendable {
    /// Every delivery takes `latency` plus a uniform random part below `jitter`.
    public var latency: Duration
    public var jitter: Duration
    /// Probability (0...1) that a message is lost.
    public var loss: Double

    public init(latency: Duration = .milliseconds(5), jitter: Duration = .milliseconds(5), loss: Double = 0) {
        self.latency = latency
        self.jitter = jitter
        self.loss = loss
    }
}

/// Counters of one node's traffic.
public struct TrafficCounters: Hashable, Sendable {
    public var messagesSent = 0
    public var bytesSent = 0
    public var messagesReceived = 0
    /// Sent but lost, partitioned away, or addressed to a crashed node.
    public var messagesDropped = 0
    public init() {}
}

/// The network and its clock. `run(until:)` pops events in time order
/// (ties in scheduling order), so a seed gives one run.
public struct VirtualNetwork<Node: SimulatedNode>: Sendable {
    public typealias ID = Node.ID

    public var conditions: NetworkConditions
    public private(set) var now: Duration = .zero
    public private(set) var traffic: [ID: TrafficCounters] = [:]
    /// Events handled so far: deliveries and ticks.
    public private(set) var eventsProcessed = 0

    private var random: SeededGenerator
    private var nodes: [ID: Node] = [:]
    private var crashed: Set<ID> = []
    /// Partition groups: nodes in different groups cannot reach each other; nodes in none reach everyone.
    private var groupOf: [ID: Int] = [:]
    private var queue = EventHeap<Event>()
    private var scheduledTick: [ID: Duration] = [:]
    private var sequence: UInt64 = 0

    private enum Event: Sendable {
        case deliver(from: ID, to: ID, message: Node.Message)
        case tick(ID)
    }

    public init(conditions: NetworkConditions = NetworkConditions(), seed: UInt64) {
        self.conditions = conditions
        random = SeededGenerator(seed: seed)
    }

    // MARK: Nodes

    public var nodeIDs: [ID] { nodes.keys.sorted() }
    public var runningNodeIDs: [ID] { nodes.keys.filter { !crashed.contains($0) }.sorted() }
    public func node(_ id: ID) -> Node? { nodes[id] }
    public func isCrashed(_ id: ID) -> Bool { crashed.contains(id) }

    /// Adds (or replaces) a node and schedules its first tick.
    public mutating func add(_ node: Node) {
        nodes[node.id] = node
        crashed.remove(node.id)
        scheduleTick(node.id)
    }

    /// Changes a node from outside (a join, a leave, a tag change), sending what it returns.
    public mutating func act(on id: ID, _ body: (inout Node, Duration) -> [Envelope<ID, Node.Message>]) {
        guard var node = nodes[id], !crashed.contains(id) else { return }
        let sends = body(&node, now)
        nodes[id] = node
        dispatch(sends, from: id)
        scheduleTick(id)
    }

    /// Stops a node: it handles nothing, and messages to it are dropped.
    public mutating func crash(_ id: ID) { crashed.insert(id) }

    /// Brings a crashed node back as `node` (fresh state, same ID).
    public mutating func restart(_ node: Node) {
        scheduledTick[node.id] = nil
        add(node)
    }

    // MARK: Partitions

    /// Splits the network: each group reaches only itself (nodes in no group reach everyone).
    public mutating func partition(_ groups: [[ID]]) {
        groupOf = [:]
        for (index, group) in groups.enumerated() {
            for id in group { groupOf[id] = index }
        }
    }

    public mutating func heal() { groupOf = [:] }

    public func canReach(_ from: ID, _ to: ID) -> Bool {
        guard let a = groupOf[from], let b = groupOf[to] else { return true }
        return a == b
    }

    // MARK: Running

    /// Handles every event up to `deadline`, then sets the clock to it.
    public mutating func run(until deadline: Duration) {
        while let next = queue.peekTime, next <= deadline {
            let (time, event) = queue.pop()!
            now = time
            eventsProcessed += 1
            switch event {
            case .deliver(let from, let to, let message):
                guard var node = nodes[to], !crashed.contains(to) else {
                    traffic[from, default: TrafficCounters()].messagesDropped += 1
                    continue
                }
                traffic[to, default: TrafficCounters()].messagesReceived += 1
                let sends = node.receive(message, from: from, now: now)
                nodes[to] = node
                dispatch(sends, from: to)
                scheduleTick(to)
            case .tick(let id):
                guard scheduledTick[id] == time else { continue }  // superseded by an earlier one
                scheduledTick[id] = nil
                guard var node = nodes[id], !crashed.contains(id) else { continue }
                let sends = node.tick(now: now)
                nodes[id] = node
                dispatch(sends, from: id)
                scheduleTick(id)
            }
        }
        now = max(now, deadline)
    }

    public mutating func run(for duration: Duration) { run(until: now + duration) }

    /// Runs in steps of `step` until `condition` holds or `limit` passes; true if it held.
    public mutating func run(until condition: (Self) -> Bool, step: Duration, limit: Duration) -> Bool {
        let end = now + limit
        while now < end {
            if condition(self) { return true }
            run(until: min(end, now + step))
        }
        return condition(self)
    }

    private mutating func dispatch(_ sends: [Envelope<ID, Node.Message>], from: ID) {
        guard !sends.isEmpty, let sender = nodes[from] else { return }
        for send in sends {
            var counters = traffic[from, default: TrafficCounters()]
            counters.messagesSent += 1
            counters.bytesSent += sender.wireSize(of: send.message)
            let lost = conditions.loss > 0 && Double(random.next() >> 11) / Double(1 << 53) < conditions.loss
            if lost || !canReach(from, send.to) || nodes[send.to] == nil {
                counters.messagesDropped += 1
                traffic[from] = counters
                continue
            }
            traffic[from] = counters
            var delay = conditions.latency
            let jitter = conditions.jitter.nanoseconds
            if jitter > 0 { delay += .nanoseconds(Int64(random.next() % UInt64(jitter))) }
            push(now + delay, .deliver(from: from, to: send.to, message: send.message))
        }
    }

    private mutating func scheduleTick(_ id: ID) {
        guard let node = nodes[id] else { return }
        let deadline = max(now, node.nextDeadline)
        if let scheduled = scheduledTick[id], scheduled <= deadline { return }
        scheduledTick[id] = deadline
        push(deadline, .tick(id))
    }

    private mutating func push(_ time: Duration, _ event: Event) {
        sequence += 1
        queue.push(time: time, sequence: sequence, event)
    }
}

/// A binary min-heap of events keyed by (time, scheduling order).
struct EventHeap<Element: Sendable>: Sendable {
    private var items: [(time: Duration, sequence: UInt64, element: Element)] = []

    var peekTime: Duration? { items.first?.time }
    var count: Int { items.count }

    private func less(_ a: Int, _ b: Int) -> Bool {
        items[a].time != items[b].time ? items[a].time < items[b].time : items[a].sequence < items[b].sequence
    }

    mutating func push(time: Duration, sequence: UInt64, _ element: Element) {
        items.append((time, sequence, element))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard less(child, parent) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (Duration, Element)? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < items.count, less(left, smallest) { smallest = left }
            if right < items.count, less(right, smallest) { smallest = right }
            guard smallest != parent else { break }
            items.swapAt(parent, smallest)
            parent = smallest
        }
        return (top.time, top.element)
    }
}
