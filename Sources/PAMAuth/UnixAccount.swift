import CPAM
import Glibc

/// A Linux account as the system databases (passwd, group) describe it.
public struct UnixAccount: Sendable, Equatable {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32
    /// Names of all groups the account is in, its primary group included.
    public var groups: [String]

    /// Looks the account up; nil when there is no such user.
    public static func lookup(_ name: String) -> UnixAccount? {
        guard UsernamePolicy.isAcceptable(name) else { return nil }
        var entry = passwd()
        var found: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getpwnam_r(name, &entry, &buffer, buffer.count, &found) == 0, found != nil else { return nil }
        let uid = entry.pw_uid
        let gid = entry.pw_gid
        return UnixAccount(name: name, uid: uid, gid: gid, groups: groupNames(of: name, primaryGroup: gid))
    }

    static func groupNames(of name: String, primaryGroup: UInt32) -> [String] {
        var capacity: Int32 = 64
        var gids = [UInt32](repeating: 0, count: Int(capacity))
        var count = berth_user_groups(name, primaryGroup, &gids, capacity)
        if count > capacity {
            capacity = count
            gids = [UInt32](repeating: 0, count: Int(capacity))
            count = berth_user_groups(name, primaryGroup, &gids, capacity)
        }
        guard count > 0 else { return [] }
        var names: [String] = []
        for gid in gids.prefix(Int(count)) {
            var entry = group()
            var found: UnsafeMutablePointer<group>?
            var buffer = [CChar](repeating: 0, count: 64 * 1024)
            if getgrgid_r(gid, &entry, &buffer, buffer.count, &found) == 0, found != nil, let groupName = entry.gr_name {
                names.append(String(cString: groupName))
            }
        }
        return names
    }
}

/// What a username typed into the login form must look like before it goes anywhere near PAM.
public enum UsernamePolicy {
    public static let maxLength = 64

    /// At most 64 bytes, no control characters, no leading `-` (no option injection into anything that logs or
    /// passes it on), not empty, no `/` or `:` (never part of a Linux user name).
    public static func isAcceptable(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= maxLength, !name.hasPrefix("-") else { return false }
        return !name.unicodeScalars.contains { $0.properties.generalCategory == .control || $0 == "/" || $0 == ":" || $0 == " " }
    }
}
