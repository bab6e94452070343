#if canImport(Glibc)
import Glibc
#endif

/// Gives back the memory Berth needed only to start: the pages of its binary and its libraries that start-up read
/// once (the loader's relocation tables and symbol lookups, the type metadata the runtime scans, the code that opened
/// and migrated the database, parsed every template and built the router).
///
/// The kernel maps a file 64 KiB around every page touched, or a whole large folio of the page cache, so start-up
/// leaves much of each file mapped although an idle server uses little of it. `MADV_DONTNEED` drops those pages from
/// Berth's resident set only: they stay in the page cache, and what runs or is read again comes back with a minor
/// fault, no disk read. It also takes a written page back to the file's bytes, so only segments nothing writes are
/// advised: not writable (RELRO, where the loader wrote relocations before making it read-only, lies in a writable
/// segment; a first version advised it and the graceful-shutdown test hung), outside PT_GNU_RELRO all the same, and
/// not in an object with text relocations. (A debugger's breakpoints set before then go the same way.)
enum StartupMemory {
    /// Returns the bytes of the ranges advised (their resident part is what was given back), for the log.
    static func release() -> Int {
        #if os(Linux)
        return LoadedObjects.adviseNeverWritten()
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

    /// Advises each object's ranges while the loader lists it: the loader holds its lock meanwhile, so no object (a
    /// PAM module after a sign-in) can be unloaded and its addresses reused before the advice lands.
    static func adviseNeverWritten() -> Int {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "dl_iterate_phdr") else { return 0 }  // RTLD_DEFAULT
        let iterate = unsafeBitCast(symbol, to: IteratePHDR.self)
        var advised = 0
        _ = withUnsafeMutablePointer(to: &advised) { total in
            iterate({ info, _, context in
                guard let info, let context else { return 0 }
                for range in LoadedObjects.neverWrittenRanges(of: info) {
                    guard let address = UnsafeMutableRawPointer(bitPattern: range.lowerBound) else { continue }
                    if madvise(address, Int(range.upperBound - range.lowerBound), MADV_DONTNEED) == 0 {
                        context.assumingMemoryBound(to: Int.self).pointee += Int(range.upperBound - range.lowerBound)
                    }
                }
                return 0
            }, total)
        }
        return advised
    }

    /// Whole pages of one object's loadable segments that are never written. A page shared with a neighbouring
    /// segment may hold written bytes, so a partial page is left alone. `info` is a `struct dl_phdr_info`:
    /// dlpi_addr at 0, dlpi_name at 8, dlpi_phdr at 16, dlpi_phnum at 24.
    static func neverWrittenRanges(of info: UnsafeRawPointer) -> [Range<UInt>] {
        let base = UInt(info.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        if let name = info.loadUnaligned(fromByteOffset: 8, as: UnsafePointer<CChar>?.self),
            strstr(name, "vdso") != nil
        {
            return []  // the kernel's own page, no file behind it
        }
        guard let headers = info.loadUnaligned(fromByteOffset: 16, as: UnsafeRawPointer?.self) else { return [] }
        let count = Int(info.loadUnaligned(fromByteOffset: 24, as: UInt16.self))
        let segments = (0..<count).map { Segment(header: headers + $0 * 56, base: base) }  // sizeof(Elf64_Phdr)
        if segments.contains(where: { $0.type == Segment.dynamic && Self.hasTextRelocations($0) }) { return [] }
        let page = UInt(sysconf(Int32(_SC_PAGESIZE)))
        let relro = segments.first { $0.type == Segment.relro }.map { $0.address..<($0.address &+ $0.memorySize) }
        return segments.compactMap { segment in
            guard segment.type == Segment.load, segment.flags & Segment.writable == 0 else { return nil }
            let start = (segment.address &+ page &- 1) / page * page
            let end = (segment.address &+ segment.fileSize) / page * page
            guard start < end else { return nil }
            if let relro, relro.overlaps(start..<end) { return nil }
            return start..<end
        }
    }

    /// DT_TEXTREL, or DF_TEXTREL in DT_FLAGS: the loader wrote into this object's read-only segments.
    private static func hasTextRelocations(_ dynamic: Segment) -> Bool {
        guard let entries = UnsafeRawPointer(bitPattern: dynamic.address) else { return true }
        for index in 0..<(Int(dynamic.memorySize) / 16) {  // sizeof(Elf64_Dyn): d_tag, d_val
            let tag = entries.loadUnaligned(fromByteOffset: index * 16, as: Int64.self)
            let value = entries.loadUnaligned(fromByteOffset: index * 16 + 8, as: UInt64.self)
            switch tag {
            case 0: return false  // DT_NULL
            case 22: return true  // DT_TEXTREL
            case 30 where value & 4 != 0: return true  // DT_FLAGS with DF_TEXTREL
            default: continue
            }
        }
        return false
    }

    /// An `Elf64_Phdr`: p_type at 0, p_flags at 4, p_vaddr at 16, p_filesz at 32, p_memsz at 40.
    private struct Segment {
        static let load: UInt32 = 1, dynamic: UInt32 = 2, relro: UInt32 = 0x6474_e552
        static let writable: UInt32 = 2
        let type: UInt32
        let flags: UInt32
        let address: UInt
        let fileSize: UInt
        let memorySize: UInt

        init(header: UnsafeRawPointer, base: UInt) {
            type = header.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
            flags = header.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
            address = base &+ UInt(header.loadUnaligned(fromByteOffset: 16, as: UInt64.self))  // the loader wraps too
            fileSize = UInt(header.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
            memorySize = UInt(header.loadUnaligned(fromByteOffset: 40, as: UInt64.self))
        }
    }
}
#endif
