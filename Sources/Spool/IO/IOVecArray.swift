#if canImport(Glibc)
import Glibc
#endif

/// iovecs on the heap for the life of one vectored operation.
struct IOVecArray {
    let pointer: UnsafeMutablePointer<iovec>
    init(base: UnsafeMutableRawPointer, segments: [Range<Int>]) {
        pointer = .allocate(capacity: max(segments.count, 1))
        for (i, s) in segments.enumerated() {
            pointer[i] = iovec(iov_base: base + s.lowerBound, iov_len: s.count)
        }
    }
    func free() { pointer.deallocate() }

    /// Where, in the buffer, the `n`-th transferred byte ends.
    static func end(of n: Int, in segments: [Range<Int>]) -> Int {
        var left = n
        var end = 0
        for s in segments where left > 0 {
            let take = min(left, s.count)
            end = s.lowerBound + take
            left -= take
        }
        return end
    }
}
