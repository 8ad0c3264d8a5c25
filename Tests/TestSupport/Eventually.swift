/// Polls `condition` every 20 ms until it holds or `timeout` passes; the
/// answer is the condition's last value. Tests wait on conditions this way,
/// never on fixed sleeps.
public func eventually(timeout: Duration = .seconds(15), _ condition: () async -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return await condition()
}
