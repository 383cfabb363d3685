extension Ring {
    /// Counters kept by the ring. A plain value.
    public struct Statistics: Sendable, Equatable {
        /// `io_uring_enter` calls made (including retries).
        public var enterCalls = 0
        /// Retries after `EINTR`.
        public var interruptedRetries = 0
        /// Retries after `EAGAIN`/`EBUSY`.
        public var busyRetries = 0
        /// Times the CQ overflow backlog was flushed.
        public var overflowFlushes = 0
        /// Completions moved to the spill buffer by the submit path.
        public var spilledCompletions = 0
    }
}
