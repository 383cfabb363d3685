import CSpoolURing

/// Facts about, and settings of, the calling thread that a ring's owner thread needs.
///
/// A namespace: every member acts on the calling thread only, so it is thread-safe.
public enum CurrentThread {
    /// The calling thread's kernel id (`gettid`), as `/proc/self/task/<id>` names it.
    public static var kernelID: Int32 { spool_thread_id() }

    /// Names the calling thread (`prctl(PR_SET_NAME)`; the kernel keeps 15 bytes).
    /// Returns false if the kernel refused.
    @discardableResult
    public static func setName(_ name: String) -> Bool {
        spool_set_thread_name(name) == 0
    }
}
