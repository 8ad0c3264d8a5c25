/// A first-in first-out queue on a growable ring of slots: O(1) push and pop
/// at either end, no per-element allocation. The cache's FIFOs are made of
/// these (swift-collections' Deque is not a dependency of this target).
struct RingQueue<Element: Sendable>: Sendable {
    private var storage: [Element?]
    private var head = 0
    private(set) var count = 0

    init(capacity: Int = 16) {
        storage = Array(repeating: nil, count: Swift.max(capacity, 4))
    }

    var isEmpty: Bool { count == 0 }

    /// Adds `element` at the back (the newest end).
    mutating func pushBack(_ element: Element) {
        if count == storage.count { grow() }
        storage[(head + count) % storage.count] = element
        count += 1
    }

    /// Removes and returns the front (the oldest) element.
    mutating func popFront() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head]
        storage[head] = nil
        head = (head + 1) % storage.count
        count -= 1
        return element
    }

    mutating func removeAll() {
        storage = Array(repeating: nil, count: 16)
        head = 0
        count = 0
    }

    private mutating func grow() {
        var bigger: [Element?] = Array(repeating: nil, count: storage.count * 2)
        for offset in 0..<count {
            bigger[offset] = storage[(head + offset) % storage.count]
        }
        storage = bigger
        head = 0
    }
}
