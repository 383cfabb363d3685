internal import CSpoolURing

#if canImport(Glibc)
import Glibc
#endif

/// Every close Spool makes goes through here, so the portable backend notices that a
/// descriptor it watches was closed, and perhaps its number reused, by any thread: a close
/// bumps the number's close epoch just before and just after (``PortableReactor`` keeps the
/// epoch it saw when it started watching, and starts afresh when it changed).
///
/// A namespace of stateless functions: thread-safe.
enum DescriptorClose {
    /// Closes `fd` now: `close(2)`'s result (errno is kept for the caller).
    @discardableResult
    static func close(_ fd: Int32) -> Int32 {
        spool_close_epoch_bump(fd)
        let r = Glibc.close(fd)
        let saved = errno
        spool_close_epoch_bump(fd)
        errno = saved
        return r
    }

    /// Marks a close about to be made elsewhere (a close request), before it is made...
    static func willClose(_ fd: Int32) { spool_close_epoch_bump(fd) }
    /// ...and after it was made.
    static func didClose(_ fd: Int32) { spool_close_epoch_bump(fd) }

    /// The number's close epoch now.
    static func epoch(_ fd: Int32) -> UInt32 { spool_close_epoch(fd) }
}
