#if canImport(Glibc)
import Glibc
#endif
import SystemPackage

/// A path copied to the C heap for the life of one operation.
struct CPath {
    let pointer: UnsafeMutablePointer<CChar>
    init(_ path: FilePath) {
        pointer = path.withPlatformString { strdup($0)! }
    }
    func free() { Glibc.free(pointer) }
}
