import SystemPackage

/// Where a ring's descriptor number goes when the ring is freed (``Ring/descriptorReservation``):
/// onto a duplicate of ``placeholder``, so the number stays taken until its owner closes it.
///
/// **Thread-safety:** ``isReserved`` is written once, by the ring's `deinit` on the ring's
/// thread, and read afterwards by that thread. **Lifetime:** the placeholder belongs to the
/// caller and must be open while the ring is freed.
public final class DescriptorReservation: @unchecked Sendable {  // one writer, then readers on its thread
    /// The descriptor whose duplicate takes the ring's number.
    public let placeholder: FileDescriptor
    /// Whether the ring's number was handed over (false: it was closed as usual).
    public internal(set) var isReserved = false

    /// A reservation onto `placeholder`.
    public init(placeholder: FileDescriptor) { self.placeholder = placeholder }
}
