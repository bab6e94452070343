#if canImport(Glibc)
import Glibc
#endif

/// Every browser connection is a file descriptor, and a live view may hold one to the engine: the common soft limit
/// of 1024 would refuse connections long before `--max-connections`. Berth raises its soft limit to the hard one at
/// start (the systemd unit sets the hard one, `LimitNOFILE`), as Go's runtime does for every Go server, and says so
/// when even that is below what its caps may need.
enum DescriptorLimit {
    /// Raises the soft limit; returns the limit now in force, or nil where it can't be read.
    static func raise() -> Int? {
        #if canImport(Glibc)
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        // Unlimited (all bits set) clamps to Int.max.
        return Int(clamping: limit.rlim_cur)
        #else
        return nil
        #endif
    }

    /// What the caps may need at once: each connection, an engine connection per live view, and room for the
    /// database, the engines' idle connections and the log.
    static func needed(maxConnections: Int, maxStreams: Int) -> Int {
        maxConnections + maxStreams + 256
    }
}
