#if canImport(Glibc)
import Glibc
#endif
import NIOConcurrencyHelpers

/// Memory a burst of streams used goes back to the system when they end.
///
/// glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), after which blocks of that size
/// come from the heap and stay there when freed; and freed small blocks stay in each thread's arena. Readers of a
/// fast log that stopped reading, once gone, left their megabytes behind. So: a fixed threshold (every block of
/// 128 KiB or more is a mapping of its own, unmapped on free), and `malloc_trim` a moment after streams that held
/// much have closed (it gives back the free pages inside every arena).
public enum ReturnedMemory {
    /// `mallopt`'s parameters, from glibc's `malloc.h` (which the Glibc module does not bring in).
    private static let trimThreshold: Int32 = -1
    private static let mmapThreshold: Int32 = -3
    private static let trimPending = NIOLockedValueBox(false)

    /// Called once at start, before anything large is allocated.
    public static func configureAllocator() {
        #if canImport(Glibc)
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        _ = mallopt(mmapThreshold, 128 * 1024)
        _ = mallopt(trimThreshold, 128 * 1024)
        #endif
    }

    /// Trims the heap a second from now, once however many streams close meanwhile, and again a few seconds later for
    /// what their connections and engine streams let go of after them.
    static func trimSoon() {
        #if canImport(Glibc)
        guard trimPending.withLockedValue({ pending in
            defer { pending = true }
            return !pending
        }) else { return }
        Task.detached(priority: .background) {
            try? await Task.sleep(for: .seconds(1))
            trimPending.withLockedValue { $0 = false }
            typealias MallocTrim = @convention(c) (Int) -> Int32
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
            let trim = unsafeBitCast(symbol, to: MallocTrim.self)
            _ = trim(0)
            try? await Task.sleep(for: .seconds(4))
            _ = trim(0)
        }
        #endif
    }
}

/// A count of things open (connections, streams) that tells when a wave of them has mostly gone: what they freed
/// stays in the allocator's arenas until trimmed, and a burst of many small ones (a flood of short streams, of
/// anonymous sockets) never trips a stream's own byte threshold.
struct OpenCount: Sendable {
    /// A wave is at least this many open at once...
    let wave: Int
    /// ...and has gone when this fraction of its peak is left.
    let ebb: Int
    /// So many opened (since the last such wave) are a wave of openings.
    let openingWave: Int
    private(set) var now = 0
    /// The most open at once since the last wave went.
    private var peak = 0
    /// Opened since a wave of openings was last reported.
    private var openedSinceWave = 0

    init(wave: Int, ebb: Int = 8, openingWave: Int = .max) {
        self.wave = wave
        self.ebb = ebb
        self.openingWave = openingWave
    }

    /// True when this opening completes a wave of openings (`openingWave` since the last): setting up each one (its request,
    /// the route, the task that answered it) freed memory between what stays, in pages the allocator keeps until
    /// trimmed.
    @discardableResult
    mutating func opened() -> Bool {
        now += 1
        peak = max(peak, now)
        openedSinceWave += 1
        guard openedSinceWave >= openingWave else { return false }
        openedSinceWave = 0
        return true
    }

    /// True when this closing ends a wave: time to give its memory back.
    mutating func closed() -> Bool {
        now -= 1
        guard peak >= wave, now <= peak / ebb else { return false }
        peak = now
        return true
    }
}

