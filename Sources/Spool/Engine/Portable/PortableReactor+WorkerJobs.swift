internal import SpoolRing

/// The portable reactor's worker jobs: file calls that miss the page cache, and calls that
/// may wait on a peer, run on ``PortableWorkers``' threads; their results come back through
/// the ring's inbox (ring thread only, like the reactor).
extension PortableReactor {
    /// Runs `request` on a worker thread: on the peer pool if it may wait on a peer
    /// (`waitsOnPeer`: a terminal's write), else on the file pool, where an
    /// open that turns out to be of a FIFO or a character device is handed to the peer pool.
    func startOnWorker(_ request: OperationRequest, userData: UInt64, waitsOnPeer: Bool = false) {
        workerJobsStarted += 1
        let executor = self.executor!
        let onPeerPool = waitsOnPeer
        let peer = onPeerPool ? PeerWork(copying: request) : nil
        let run = peer?.request ?? request
        let pool = onPeerPool ? workers.peers : workers.files
        let handsOffWaitingOpens = !onPeerPool && { if case .openAt = request { return true } else { return false } }()
        let token = WorkerJobToken()
        // The result comes back as a job on the ring's inbox, run on the ring thread (the
        // reactor is only ever touched there). One whose caller left is disposed of here.
        nonisolated(unsafe) let reactor = self
        let job = BlockingPool.Job(
            run: {
                if handsOffWaitingOpens && run.opensSomethingThatWaits {
                    executor.post(.run { reactor.moveToPeerPool(userData, token: token, request: request) })
                    return
                }
                let result = run.runBlocking()
                if let peer, peer.detached.load(ordering: .acquiring) {
                    peer.dispose(result)
                    return
                }
                executor.post(.run { reactor.workerFinished(userData, token: token, result, peer: peer) })
            },
            refuse: { _ in executor.post(.run { reactor.workerFinished(userData, token: token, .failure(.canceled), peer: nil) }) })
        jobs[userData] = WorkerJob(job: job, pool: pool, peer: peer, token: token)
        if pool.submit(job) != nil {
            jobs[userData] = nil
            post(userData, .failure(.resourceTemporarilyUnavailable))  // cannot happen: the queue holds more than the rings admit
        }
    }

    /// A file worker found that `userData`'s open would wait on a peer (a FIFO): it goes to the
    /// peer pool instead, unless its caller has gone meanwhile (ring thread).
    func moveToPeerPool(_ userData: UInt64, token: AnyObject, request: OperationRequest) {
        guard let entry = jobs[userData], entry.token === token else { return }
        jobs[userData] = nil
        if entry.cancelRequested {
            post(userData, .failure(.canceled))
            return
        }
        workerJobsStarted -= 1  // counted once
        startOnWorker(request, userData: userData, waitsOnPeer: true)
    }

    /// A worker finished `userData`'s job (ring thread, from the inbox). A result whose caller
    /// left (its `user_data` may name a newer request by now) is disposed of.
    func workerFinished(_ userData: UInt64, token: AnyObject, _ result: CallResult, peer: PeerWork?) {
        guard let entry = jobs[userData], entry.token === token else {
            peer?.dispose(result)
            return
        }
        jobs[userData] = nil
        post(userData, result)
    }
}
