import GRDB

extension AppDatabase {
    /// The schema's history. A shipped migration is never edited: add a new one instead. Migrations spell out their
    /// SQL and never use the record types, which change over time.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: sessions, settings, audit") { db in
            // A signed-in browser. Only the SHA-256 of the cookie token is stored, never the token.
            try db.create(table: "session") { table in
                table.primaryKey("tokenHash", .text)
                table.column("username", .text).notNull()
                table.column("role", .text).notNull()
                table.column("csrfToken", .text).notNull()
                table.column("clientAddress", .text)
                table.column("userAgent", .text)
                table.column("createdAt", .datetime).notNull()
                table.column("lastSeenAt", .datetime).notNull()
                table.column("expiresAt", .datetime).notNull()
                table.column("accountCheckedAt", .datetime).notNull()
            }
            try db.create(index: "session_on_username", on: "session", columns: ["username"])

            // Per unix user preferences, one row per key.
            try db.create(table: "userSetting") { table in
                table.column("username", .text).notNull()
                table.column("key", .text).notNull()
                table.column("value", .text).notNull()
                table.column("updatedAt", .datetime).notNull()
                table.primaryKey(["username", "key"])
            }

            // Who did what, when, from where, with what result. Rows are only ever appended.
            try db.create(table: "auditEvent") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("time", .datetime).notNull()
                table.column("requestId", .text)
                table.column("actor", .text).notNull()
                table.column("role", .text)
                table.column("clientAddress", .text)
                table.column("userAgent", .text)
                table.column("action", .text).notNull()
                table.column("targetType", .text)
                table.column("targetId", .text)
                table.column("targetName", .text)
                table.column("engine", .text)
                table.column("parameters", .text)
                table.column("outcome", .text).notNull().check(sql: "outcome IN ('ok', 'denied', 'error')")
                table.column("errorMessage", .text)
                table.column("durationMs", .integer)
                table.column("hash", .text)
            }
            try db.create(index: "auditEvent_on_time", on: "auditEvent", columns: ["time"])
            try db.create(index: "auditEvent_on_actor", on: "auditEvent", columns: ["actor", "id"])
            try db.create(index: "auditEvent_on_action", on: "auditEvent", columns: ["action", "id"])
        }
        migrator.registerMigration("v2: audit hash chain, audit search indexes, write probe") { db in
            // Rows written before the chain existed are sealed now, oldest first.
            let ids = try Int64.fetchAll(db, sql: "SELECT id FROM auditEvent ORDER BY id")
            for id in ids { _ = try AuditChain.seal(db, id: id) }
            try db.create(index: "auditEvent_on_outcome", on: "auditEvent", columns: ["outcome", "id"])
            try db.create(index: "auditEvent_on_targetId", on: "auditEvent", columns: ["targetId", "id"])
            try db.create(index: "auditEvent_on_targetName", on: "auditEvent", columns: ["targetName", "id"])
            // One row, rewritten before each audited action: a real committed write, so that a full disk is found
            // before the action runs (taking the lock alone succeeds on a full disk).
            try db.create(table: "auditWriteProbe") { table in
                table.primaryKey("id", .integer)
                table.column("checkedAt", .datetime).notNull()
            }
        }
        return migrator
    }
}
