import Glibc
@testable import Spool
import Testing

@Suite("Runtime: ring executor and lifecycle")
struct RuntimeTests {
    @Test("run executes its body on a ring thread and returns its value")
    func runOnRing() throws {
        let value = try Runtime.run { runtime in
            #expect(RingExecutor.current != nil)
            #expect(Runtime.current === runtime)
            try await runtime.nop()
            return 42
        }
        #expect(value == 42)
    }

    @Test("10,000 NOPs from one task on the ring")
    func manyNops() throws {
        try Runtime.run { runtime in
            for _ in 0..<10_000 { try await runtime.nop() }
        }
    }
}
