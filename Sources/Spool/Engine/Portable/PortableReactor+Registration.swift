/// The portable reactor's record of one descriptor (ring thread only, like the reactor).
extension PortableReactor {
    /// One watched descriptor.
    final class Registration {
        let fd: Int32
        /// The number's close epoch when this registration was made or last checked
        /// (``DescriptorClose``).
        @exclusivity(unchecked) var epoch: UInt32
        /// Whether a call in each direction may succeed (cleared by `EAGAIN` or a short read,
        /// set by an event).
        @exclusivity(unchecked) var readReady = true
        @exclusivity(unchecked) var writeReady = true
        /// The peer closed or the descriptor failed (`EPOLLRDHUP`, `EPOLLHUP`, `EPOLLERR`): reads
        /// end at once from now on (0 or the error), so a short read no longer means "wait for
        /// the next edge" — that edge has come already.
        @exclusivity(unchecked) var readClosed = false
        /// Requests (their `user_data`) waiting in each direction, oldest first.
        @exclusivity(unchecked) var readers = FIFOQueue<UInt64>()
        @exclusivity(unchecked) var writers = FIFOQueue<UInt64>()
        /// Registered with epoll.
        @exclusivity(unchecked) var watched = false
        /// epoll refused it (`EPERM`): a regular file or directory; reads and writes that would
        /// wait go to a worker.
        @exclusivity(unchecked) var isFile = false
        /// The descriptor does not take `RWF_NOWAIT` (a terminal): once `poll` says it is ready,
        /// a plain read is made; writes go to a worker.
        @exclusivity(unchecked) var noWaitUnsupported = false
        /// The descriptor cannot seek (`ESPIPE`): offsets are ignored, as io_uring does.
        @exclusivity(unchecked) var stream = false
        /// Whether a short read means it is drained (a TCP socket, a pipe that is not in packet
        /// mode: asked once, for the short-read hint), if known. A Unix socket's read stops after
        /// a chunk that carried descriptors or other credentials, a terminal's at a line's end,
        /// a packet pipe's at a packet's: bytes remain, and no edge will say so.
        @exclusivity(unchecked) var shortReadDrains: Bool? = nil
        /// An urgent byte has arrived (`EPOLLPRI`): a TCP read stops at its mark with bytes
        /// behind it, so short reads no longer mean drained (for as long as it is open).
        @exclusivity(unchecked) var urgent = false
        /// Spool set `O_NONBLOCK` on it (a listener: accept has no per-call flag).
        @exclusivity(unchecked) var madeNonBlocking = false
        /// Opened with `O_DIRECT`: `RWF_NOWAIT` does not keep a direct read or write from waiting
        /// for the device (it only refuses to wait for locks), so they all go to a worker.
        @exclusivity(unchecked) var direct = false

        init(fd: Int32, epoch: UInt32) {
            self.fd = fd
            self.epoch = epoch
            direct = DescriptorCalls.isDirect(fd)
        }
    }
}
