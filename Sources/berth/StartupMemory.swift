#if canImport(Glibc)
import Glibc
#endif

/// Gives back the memory Berth needed only to start: the pages of its binary and its libraries that start-up read
/// once (the loader's relocation tables and symbol lookups, the type metadata the runtime scans, the code that opened
/// and migrated the database, parsed every template and built the router).
///
/// The kernel maps a file 64 KiB around every page touched, or a whole large folio of the page cache, so start-up
/// leaves much of each file mapped although an idle server uses little of it. Unmapping drops the pages from Berth's
/// resident set only: they stay in the page cache, and what runs or is read again comes back with a minor fault, no
/// disk read. Only segments that are never written are touched — code, and read-only data outside the RELRO range:
/// the loader wrote relocations into RELRO before making it read-only, and `MADV_DONTNEED` would take those back to
/// the file's bytes (a first version did, and the graceful-shutdown test hung).
enum StartupMemory {
    /// Returns the bytes unmapped, for the log.
    static func release() -> Int {
        #if os(Linux)
        var released = 0
        for range in LoadedObjects.neverWrittenRanges() {
            guard let address = UnsafeMutableRawPointer(bitPattern: range.lowerBound) else { continue }
            if madvise(address, Int(range.upperBound - range.lowerBound), MADV_DONTNEED) == 0 {
                released += Int(range.upperBound - range.lowerBound)
            }
        }
        return released
        #else
        return 0
        #endif
    }
}

#if os(Linux)
/// The executable and the shared libraries loaded with it, through the loader's `dl_iterate_phdr` (looked up with
/// `dlsym`: Glibc's module has neither `<link.h>` nor `<elf.h>`, so the headers are read with the ELF64 layout).
enum LoadedObjects {
    private typealias Visitor = @convention(c) (UnsafeRawPointer?, Int, UnsafeMutableRawPointer?) -> Int32
    private typealias IteratePHDR = @convention(c) (Visitor, UnsafeMutableRawPointer?) -> Int32

    /// Whole pages of every object's loadable segments that are never written: executable ones, and read-only ones
    /// outside the object's PT_GNU_RELRO. A page shared with a neighbouring segment may hold written bytes, so a
    /// partial page is left alone.
    static func neverWrittenRanges() -> [Range<UInt>] {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "dl_iterate_phdr") else { return [] }  // RTLD_DEFAULT
        let iterate = unsafeBitCast(symbol, to: IteratePHDR.self)
        var ranges: [Range<UInt>] = []
        _ = withUnsafeMutablePointer(to: &ranges) { collected in
            iterate({ info, _, context in
                guard let info, let context else { return 0 }
                context.assumingMemoryBound(to: [Range<UInt>].self).pointee += LoadedObjects.ranges(of: info)
                return 0
            }, collected)
        }
        return ranges
    }

    /// One `struct dl_phdr_info`: dlpi_addr at 0, dlpi_name at 8, dlpi_phdr at 16, dlpi_phnum at 24.
    private static func ranges(of info: UnsafeRawPointer) -> [Range<UInt>] {
        let base = UInt(info.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        if let name = info.loadUnaligned(fromByteOffset: 8, as: UnsafePointer<CChar>?.self),
            strstr(name, "vdso") != nil
        {
            return []  // the kernel's own page, no file behind it
        }
        guard let headers = info.loadUnaligned(fromByteOffset: 16, as: UnsafeRawPointer?.self) else { return [] }
        let count = Int(info.loadUnaligned(fromByteOffset: 24, as: UInt16.self))
        let segments = (0..<count).map { Segment(header: headers + $0 * 56, base: base) }  // sizeof(Elf64_Phdr)
        let page = UInt(sysconf(Int32(_SC_PAGESIZE)))
        let relro = segments.first { $0.type == Segment.relro }.map { $0.address..<($0.address + $0.memorySize) }
        return segments.compactMap { segment in
            guard segment.type == Segment.load, segment.flags & Segment.writable == 0 else { return nil }
            let start = (segment.address + page - 1) / page * page
            let end = (segment.address + segment.fileSize) / page * page
            guard start < end else { return nil }
            if segment.flags & Segment.executable == 0, let relro, relro.overlaps(start..<end) { return nil }
            return start..<end
        }
    }

    /// An `Elf64_Phdr`: p_type at 0, p_flags at 4, p_vaddr at 16, p_filesz at 32, p_memsz at 40.
    private struct Segment {
        static let load: UInt32 = 1, relro: UInt32 = 0x6474_e552, executable: UInt32 = 1, writable: UInt32 = 2
        let type: UInt32
        let flags: UInt32
        let address: UInt
        let fileSize: UInt
        let memorySize: UInt

        init(header: UnsafeRawPointer, base: UInt) {
            type = header.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
            flags = header.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
            address = base + UInt(header.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
            fileSize = UInt(header.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
            memorySize = UInt(header.loadUnaligned(fromByteOffset: 40, as: UInt64.self))
        }
    }
}
#endif
