internal import SpoolRing
import SystemPackage

/// Buffer pools on io_uring: a provided-buffer ring registered with the kernel, which picks a
/// free buffer for each multishot receive completion.
extension IOURingReactor {
    /// Registers `count` buffers of `bufferSize` bytes under the next free group id of this
    /// ring (ids are per ring; one still registered answers `EEXIST`: the next is tried).
    func makePoolStorage(count: Int, bufferSize: Int) -> Result<(PoolStorage, UInt16), any Error> {
        guard let ring else { return .failure(RuntimeError.shutdown) }
        var lastError: Errno = .fileExists
        for _ in 0..<64 {
            let group = executor.nextBufferGroup
            executor.nextBufferGroup &+= 1
            do throws(RingError) {
                let buffers = try ProvidedBufferRing(ring: ring, group: group, count: count, bufferSize: bufferSize)
                return .success((.kernel(buffers), group))
            } catch {
                switch error {
                case .registrationFailed(_, let errno) where errno == .fileExists: lastError = errno; continue
                case .registrationFailed(_, let errno): return .failure(IOError(.registerBuffers, errno: errno))
                case .invalidArgument(let what): return .failure(RuntimeError.invalidArgument(what))
                default: return .failure(IOError(.registerBuffers, errno: error.errno ?? .ioError))
                }
            }
        }
        return .failure(IOError(.registerBuffers, errno: lastError))
    }
}
