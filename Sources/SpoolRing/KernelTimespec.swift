import CSpoolURing

/// The kernel's `struct __kernel_timespec`, as TIMEOUT and LINK_TIMEOUT entries point at it.
public typealias KernelTimespec = spool_kernel_timespec

extension KernelTimespec {
    /// A timespec for `duration`; negative durations become zero.
    public init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        if seconds < 0 || (seconds == 0 && attoseconds < 0) {
            self.init(tv_sec: 0, tv_nsec: 0)
        } else {
            self.init(tv_sec: seconds, tv_nsec: attoseconds / 1_000_000_000)
        }
    }
}
