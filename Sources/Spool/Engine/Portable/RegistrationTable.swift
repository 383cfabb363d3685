/// Registrations by descriptor number: a table that grows to the largest number seen (one
/// pointer per number), so the hot path indexes instead of hashing.
///
/// **Thread-safety:** none; the ring thread's. **Lifetime:** holds its entries until removed.
struct RegistrationTable<Entry: AnyObject> {
    private var slots: [Entry?] = []

    subscript(fd: Int32) -> Entry? {
        get { fd >= 0 && Int(fd) < slots.count ? slots[Int(fd)] : nil }
        set {
            guard fd >= 0 else { return }
            if Int(fd) >= slots.count {
                guard newValue != nil else { return }
                slots.append(contentsOf: repeatElement(nil, count: max(Int(fd) + 1, slots.count * 2, 64) - slots.count))
            }
            slots[Int(fd)] = newValue
        }
    }

    /// Numbers the table has room for (diagnostics and tests).
    var capacity: Int { slots.count }

    /// Every entry.
    var all: [Entry] { slots.compactMap { $0 } }

    mutating func removeAll() { slots = [] }
}
