#if canImport(Glibc)
import Glibc
#endif

/// Gives back the memory Berth needed only to start: the pages of its own code that start-up ran once (opening the
/// database and migrating it, parsing every template, building the router).
///
/// The kernel maps a program's code 64 KiB around every page it runs, so start-up leaves most of the binary mapped
/// although an idle server runs little of it. Unmapping the code segment drops it from Berth's resident set only: it
/// stays in the page cache, and what runs again comes back with a minor fault, no disk read. Only the executable
/// segment is touched: it is never written. Read-only data is not: the loader wrote relocations into part of it
/// before making it read-only, and `MADV_DONTNEED` would take those back to the file's bytes.
enum StartupMemory {
    /// Returns the bytes of code unmapped, for the log.
    static func release() -> Int {
        var released = 0
        #if os(Linux)
        guard let executable = executablePath(), let maps = fopen("/proc/self/maps", "r") else { return released }
        var lines: [String] = []
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        while getline(&line, &capacity, maps) > 0, let line { lines.append(String(cString: line)) }
        free(line)
        fclose(maps)
        for line in lines {
            // "55d0c8a00000-55d0cb2a1000 r-xp 00000000 fe:01 1234 /usr/local/bin/berth"
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\n" })
            guard fields.count >= 6, fields[5] == executable, fields[1] == "r-xp" else { continue }
            let bounds = fields[0].split(separator: "-")
            guard bounds.count == 2, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16),
                let address = UnsafeMutableRawPointer(bitPattern: start)
            else { continue }
            if madvise(address, Int(end - start), MADV_DONTNEED) == 0 { released += Int(end - start) }
        }
        #endif
        return released
    }

    private static func executablePath() -> Substring? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return Substring(String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
}
