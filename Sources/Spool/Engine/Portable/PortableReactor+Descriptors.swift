internal import SpoolRing

#if canImport(Glibc)
import Glibc
#endif

/// The portable backend's descriptors: registrations found or made afresh when a number's
/// close epoch moved, and forgotten before a close. Ring thread only, like the reactor.
extension PortableReactor {
    /// The registration of `fd`. If the number was closed since it was last checked (its
    /// close epoch moved), what was learnt about the old file is forgotten and the number is
    /// registered again: the kernel dropped the old file's registration if that file is gone
    /// (then epoll answers the add), and keeps it if this is still the same file (then the add
    /// answers `EEXIST` and a modify re-arms it). Either way its readiness is reported afresh, so
    /// requests queued meanwhile (the close may race with a reuse of the number on this ring)
    /// are served, never failed or stranded.
    func registration(_ fd: Int32) -> Registration {
        let epoch = DescriptorClose.epoch(fd)
        if let reg = registrations[fd] {
            if reg.epoch == epoch { return reg }
            reg.epoch = epoch
            reg.isFile = false
            reg.stream = false
            reg.noWaitUnsupported = false
            reg.shortReadDrains = nil
            reg.urgent = false
            reg.madeNonBlocking = false
            reg.direct = DescriptorCalls.isDirect(fd)
            reg.readReady = true
            reg.writeReady = true
            reg.readClosed = false
            if reg.watched {
                reg.watched = false
                watchOrRedirect(reg)
            }
            return reg
        }
        let reg = Registration(fd: fd, epoch: epoch)
        registrations[fd] = reg
        return reg
    }

    /// Whether `fd` is a socket or pipe this reactor watches now. Called for a close request,
    /// whose caller bumped the close epoch once already (``DescriptorClose/willClose(_:)``).
    func isWatched(_ fd: Int32) -> Bool {
        guard let reg = registrations[fd] else { return false }
        return reg.watched && DescriptorClose.epoch(fd) &- reg.epoch <= 1
    }

    /// Forgets `fd` before a close request closes it: epoll stops watching it (it may live on
    /// as a duplicate elsewhere), and requests still waiting on it end with `-EBADF` (none
    /// normally: Spool closes a descriptor after its requests ended).
    func forget(_ fd: Int32) {
        guard let reg = registrations[fd] else { return }
        if isWatched(fd) { epoll.remove(fd) }
        drop(reg)
    }

    func drop(_ reg: Registration) {
        registrations[reg.fd] = nil
        for userData in reg.readers.elements + reg.writers.elements {
            if let waiter = waiters.removeValue(forKey: userData) {
                finishConnect(waiter)
                post(userData, .failure(.badFileDescriptor))
            }
        }
        _ = reg.readers.removeAll()
        _ = reg.writers.removeAll()
    }
}
