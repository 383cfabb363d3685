import CSpoolURing
import Glibc
import SpoolRing
import SystemPackage
import Testing

@Suite("Socket operations and provided buffers through the raw ring")
struct SocketOperationTests {
    @Test("socket, accept, connect, send, recv, sendmsg, recvmsg, send_zc, poll, shutdown over loopback TCP")
    func tcpLoopback() throws {
        let ring = try Ring(options: RingOptions(submissionEntries: 16))
        // A listener on an ephemeral loopback port (set up with plain calls).
        var (listener, addr) = try loopbackListener()
        defer { close(listener) }

        // SOCKET
        var sqe = try #require(ring.nextSubmission())
        sqe.prepareSocket(domain: AF_INET, type: Int32(SOCK_STREAM.rawValue) | SOCK_CLOEXEC_VALUE)
        sqe.userData = 1
        let made = try collect(ring, count: 1)
        try #require(made.count == 1 && made[0].result >= 0, "socket: \(made)")
        let client = FileDescriptor(rawValue: made[0].result)
        defer { try? client.close() }

        // ACCEPT and CONNECT in flight together.
        var peer = sockaddr_in()
        var peerLength = socklen_t(MemoryLayout<sockaddr_in>.size)
        let accepted: [Completion] = try withUnsafeMutableBytes(of: &peer) { peerBytes in
            try withUnsafeMutablePointer(to: &peerLength) { lengthPointer in
                try withUnsafeBytes(of: &addr) { target in
                    let a = try #require(ring.nextSubmission())
                    a.prepareAccept(FileDescriptor(rawValue: listener), address: peerBytes.baseAddress, length: lengthPointer)
                    a.userData = 2
                    let c = try #require(ring.nextSubmission())
                    c.prepareConnect(client, address: target.baseAddress!, length: socklen_t(MemoryLayout<sockaddr_in>.size))
                    c.userData = 3
                    return try collect(ring, count: 2)
                }
            }
        }
        let byID = Dictionary(uniqueKeysWithValues: accepted.map { ($0.userData, $0) })
        #expect(byID[3]?.result == 0, "connect: \(String(describing: byID[3]))")
        let serverResult = try #require(byID[2]?.result)
        try #require(serverResult >= 0)
        let server = FileDescriptor(rawValue: serverResult)
        defer { try? server.close() }
        #expect(peer.sin_family == sa_family_t(AF_INET))
        #expect(peer.sin_addr.s_addr == inet_addr("127.0.0.1"))

        // SEND / RECV
        let message = Array("ping over io_uring".utf8)
        var inbox = [UInt8](repeating: 0, count: 64)
        let sr: [Completion] = try message.withUnsafeBytes { out in
            try inbox.withUnsafeMutableBytes { into in
                let r = try #require(ring.nextSubmission())
                r.prepareReceive(server, into: into)
                r.userData = 10
                let s = try #require(ring.nextSubmission())
                s.prepareSend(client, from: out)
                s.userData = 11
                return try collect(ring, count: 2)
            }
        }
        let srByID = Dictionary(uniqueKeysWithValues: sr.map { ($0.userData, $0.result) })
        #expect(srByID[11] == Int32(message.count))
        #expect(srByID[10] == Int32(message.count))
        #expect(Array(inbox[0..<message.count]) == message)

        // SENDMSG / RECVMSG
        var outBytes = Array("scatter".utf8)
        var inBytes = [UInt8](repeating: 0, count: 32)
        let mr: [Completion] = try outBytes.withUnsafeMutableBytes { ob in
            try inBytes.withUnsafeMutableBytes { ib in
                var outIOV = iovec(iov_base: ob.baseAddress, iov_len: ob.count)
                var inIOV = iovec(iov_base: ib.baseAddress, iov_len: ib.count)
                return try withUnsafeMutablePointer(to: &outIOV) { oiov in
                    try withUnsafeMutablePointer(to: &inIOV) { iiov in
                        var outMsg = msghdr()
                        outMsg.msg_iov = oiov
                        outMsg.msg_iovlen = 1
                        var inMsg = msghdr()
                        inMsg.msg_iov = iiov
                        inMsg.msg_iovlen = 1
                        return try withUnsafeMutablePointer(to: &outMsg) { om in
                            try withUnsafeMutablePointer(to: &inMsg) { im in
                                let r = try #require(ring.nextSubmission())
                                r.prepareReceiveMessage(client, message: im)
                                r.userData = 20
                                let s = try #require(ring.nextSubmission())
                                s.prepareSendMessage(server, message: om)
                                s.userData = 21
                                return try collect(ring, count: 2)
                            }
                        }
                    }
                }
            }
        }
        let mrByID = Dictionary(uniqueKeysWithValues: mr.map { ($0.userData, $0.result) })
        #expect(mrByID[21] == 7)
        #expect(mrByID[20] == 7)
        #expect(String(decoding: inBytes[0..<7], as: UTF8.self) == "scatter")

        // SEND_ZC: a result with F_MORE, then the buffer-release notification.
        if ring.supports(.sendZeroCopy) {
            let zc: [Completion] = try message.withUnsafeBytes { out in
                let s = try #require(ring.nextSubmission())
                s.prepareSendZeroCopy(client, from: out)
                s.userData = 30
                return try collect(ring, count: 2)
            }
            #expect(zc.count == 2)
            #expect(zc.allSatisfy { $0.userData == 30 })
            #expect(zc.first?.result == Int32(message.count))
            #expect(zc.first?.hasMore == true)
            #expect(zc.last?.isNotification == true)
        }

        // POLL_ADD: the server has the zero-copy bytes waiting, so it is readable at once.
        sqe = try #require(ring.nextSubmission())
        sqe.preparePollAdd(server, events: UInt32(POLLIN))
        sqe.userData = 40
        let polled = try collect(ring, count: 1)
        #expect(polled.first.map { $0.result & Int32(POLLIN) != 0 } == true)

        // SHUTDOWN the client's write side: the server then reads end-of-stream.
        sqe = try #require(ring.nextSubmission())
        sqe.prepareShutdown(client, how: Int32(SHUT_WR))
        sqe.userData = 50
        #expect(try collect(ring, count: 1).first?.result == 0)
        var drain = [UInt8](repeating: 0, count: 256)
        var total = 0
        while true {
            let got: [Completion] = try drain.withUnsafeMutableBytes { b in
                let r = try #require(ring.nextSubmission())
                r.prepareReceive(server, into: b)
                r.userData = 51
                return try collect(ring, count: 1)
            }
            let n = try #require(got.first?.result)
            try #require(n >= 0)
            if n == 0 { break }
            total += Int(n)
        }
        #expect(total == (ring.supports(.sendZeroCopy) ? message.count : 0))
    }

    @Test("provided-buffer ring: the buffer id comes back, the buffer is re-added, ENOBUFS when all are out")
    func providedBuffers() throws {
        let ring = try Ring(options: RingOptions(submissionEntries: 8))
        let (a, b) = try socketPair()
        defer { try? a.close(); try? b.close() }
        let group = try ProvidedBufferRing(ring: ring, group: 7, count: 4, bufferSize: 64)

        // 12 messages through 4 buffers: works only because each buffer is recycled.
        var idsSeen = Set<UInt16>()
        for i in 0..<12 {
            let text = "message \(i)"
            _ = try a.writeAll(Array(text.utf8))
            let sqe = try #require(ring.nextSubmission())
            sqe.prepareReceive(b, bufferGroup: 7)
            sqe.userData = UInt64(i)
            let got = try collect(ring, count: 1)
            let c = try #require(got.first)
            let id = try #require(c.bufferID, "completion carries a buffer id: \(c)")
            idsSeen.insert(id)
            #expect(c.result == Int32(text.utf8.count))
            #expect(String(decoding: group.buffer(id)[0..<Int(c.result)], as: UTF8.self) == text)
            group.recycle(id)
        }
        #expect(idsSeen.count == 4)

        // Without recycling, the fifth receive finds no buffer.
        var held: [UInt16] = []
        for i in 0..<5 {
            _ = try a.writeAll(Array("x\(i)".utf8))
            let sqe = try #require(ring.nextSubmission())
            sqe.prepareReceive(b, bufferGroup: 7)
            sqe.userData = UInt64(100 + i)
            let c = try #require(try collect(ring, count: 1).first)
            if i < 4 {
                held.append(try #require(c.bufferID))
            } else {
                #expect(c.error == .noBufferSpace)
                #expect(c.bufferID == nil)
            }
        }
        // Giving them back lets the waiting byte through.
        for id in held { group.add(id) }
        group.publish()
        let sqe = try #require(ring.nextSubmission())
        sqe.prepareReceive(b, bufferGroup: 7)
        sqe.userData = 200
        let c = try #require(try collect(ring, count: 1).first)
        #expect(c.bufferID != nil)
        #expect(c.result == 2)
    }

    @Test("multishot receive posts one completion per message while F_MORE is set")
    func multishotReceive() throws {
        let ring = try Ring(options: RingOptions(submissionEntries: 8))
        let (a, b) = try socketPair()
        defer { try? a.close() }
        let group = try ProvidedBufferRing(ring: ring, group: 3, count: 8, bufferSize: 128)
        let sqe = try #require(ring.nextSubmission())
        sqe.prepareReceive(b, bufferGroup: 3, multishot: true)
        sqe.userData = 9
        try ring.submit()
        var texts: [String] = []
        for i in 0..<3 {
            _ = try a.writeAll(Array("chunk-\(i)".utf8))
            let c = try #require(try collect(ring, count: 1).first)
            #expect(c.userData == 9)
            #expect(c.hasMore)
            let id = try #require(c.bufferID)
            texts.append(String(decoding: group.buffer(id)[0..<Int(c.result)], as: UTF8.self))
            group.recycle(id)
        }
        #expect(texts == ["chunk-0", "chunk-1", "chunk-2"])
        // Closing the peer ends the stream: a final completion without F_MORE.
        try b.close()
        let cancel = try #require(ring.nextSubmission())
        cancel.prepareAsyncCancel(userData: 9)
        cancel.userData = 10
        let tail = try collect(ring, count: 2)
        #expect(tail.contains { $0.userData == 9 && !$0.hasMore })
    }

    @Test("provided-buffer ring rejects bad sizes with clear errors")
    func providedBufferBadInput() throws {
        let ring = try Ring(options: RingOptions(submissionEntries: 4))
        #expect(throws: RingError.self) { try ProvidedBufferRing(ring: ring, group: 1, count: 3, bufferSize: 64) }
        #expect(throws: RingError.self) { try ProvidedBufferRing(ring: ring, group: 1, count: 0, bufferSize: 64) }
        #expect(throws: RingError.self) { try ProvidedBufferRing(ring: ring, group: 1, count: 4, bufferSize: 0) }
        let first = try ProvidedBufferRing(ring: ring, group: 1, count: 4, bufferSize: 64)
        #expect(throws: RingError.registrationFailed(operation: "REGISTER_PBUF_RING", .fileExists)) {
            try ProvidedBufferRing(ring: ring, group: 1, count: 4, bufferSize: 64)
        }
        try first.unregister()
    }
}
