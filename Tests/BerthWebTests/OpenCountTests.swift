@testable import BerthWeb
import Testing

/// When a burst of connections or streams has gone, so that what they freed is given back (`ReturnedMemory`).
@Suite struct OpenCountTests {
    /// Opens `opening`, then closes `closing`; the closings that ended a wave.
    static func ends(_ count: inout OpenCount, opening: Int, closing: Int) -> [Int] {
        for _ in 0..<opening { count.opened() }
        return (1...closing).filter { _ in count.closed() }
    }

    @Test func aWaveEndsOnceWhenAllButAnEighthHaveGone() {
        var count = OpenCount(wave: 16)
        // 24 open, e.g. a session's streams at its cap: the wave ends at the 21st closing (3 left), and only then.
        #expect(Self.ends(&count, opening: 24, closing: 24) == [21])
        #expect(count.now == 0)
    }

    @Test func aSteadyFewNeverMakeAWave() {
        var count = OpenCount(wave: 16)
        var ended: [Int] = []
        for _ in 0..<1000 { ended += Self.ends(&count, opening: 15, closing: 15) }
        #expect(ended.isEmpty)
    }

    @Test func theNextWaveIsCountedFromWhatWasLeft() {
        var count = OpenCount(wave: 16)
        #expect(Self.ends(&count, opening: 32, closing: 28) == [28])
        // 4 stay open; a second burst to 40 ends when 5 are left.
        #expect(Self.ends(&count, opening: 36, closing: 35) == [35])
    }

    @Test func everyOpeningWaveIsReportedOnceWhateverCloses() {
        var count = OpenCount(wave: 16, openingWave: 4)
        var waves: [Int] = []
        for number in 1...10 {
            if count.opened() { waves.append(number) }
            // Closings in between do not reset the openings counted.
            if number % 3 == 0 { _ = count.closed() }
        }
        #expect(waves == [4, 8])
        var never = OpenCount(wave: 16)
        #expect((0..<10_000).allSatisfy { _ in !never.opened() }, "no opening wave unless asked for")
    }
}
