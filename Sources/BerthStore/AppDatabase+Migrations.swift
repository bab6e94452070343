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
            for id in ids { try AuditChain.sealExisting(db, id: id) }
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
        migrator.registerMigration("v3: audit free-text index") { db in
            // Free text over a million rows can't be a scan of every row (0.6 s): a trigram index answers
            // `LIKE '%text%'` from the index. detail=none keeps it near the size of the text; ids stay out of it (the
            // target filter finds those by prefix). Triggers keep it in step with whatever inserts, edits or deletes rows
            // (Berth itself only inserts, and deletes for retention).
            // The columns of `AuditQuery.freeTextColumns`, spelled out: a shipped migration never changes.
            let body = ["actor", "action", "targetName", "clientAddress", "parameters", "errorMessage"]
            let fromRow = body.map { "coalesce(\($0), '')" }.joined(separator: " || char(31) || ")
            let fromNew = body.map { "coalesce(new.\($0), '')" }.joined(separator: " || char(31) || ")
            try db.execute(sql: """
                CREATE VIRTUAL TABLE auditText USING fts5(body, tokenize = 'trigram', detail = 'none');
                INSERT INTO auditText (rowid, body) SELECT id, \(fromRow) FROM auditEvent;
                CREATE TRIGGER auditEvent_text_insert AFTER INSERT ON auditEvent BEGIN
                    INSERT INTO auditText (rowid, body) VALUES (new.id, \(fromNew));
                END;
                CREATE TRIGGER auditEvent_text_delete AFTER DELETE ON auditEvent BEGIN
                    DELETE FROM auditText WHERE rowid = old.id;
                END;
                CREATE TRIGGER auditEvent_text_update AFTER UPDATE OF id, \(body.joined(separator: ", ")) ON auditEvent BEGIN
                    DELETE FROM auditText WHERE rowid = old.id;
                    INSERT INTO auditText (rowid, body) VALUES (new.id, \(fromNew));
                END;
                """)
        }
        migrator.registerMigration("v4: audit rows are append-only") { db in
            // Berth writes each row once, hash included. Refusing updates in the database itself catches a slip in
            // the app; someone with the file can drop this trigger, which is what the hash chain is for.
            try db.execute(sql: """
                CREATE TRIGGER auditEvent_append_only BEFORE UPDATE ON auditEvent BEGIN
                    SELECT RAISE(ABORT, 'audit rows are append-only');
                END;
                """)
        }
        migrator.registerMigration("v5: dashboards, share links") { db in
            // A saved view of some containers. List-valued columns hold JSON arrays of strings.
            try db.create(table: "dashboard") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("owner", .text).notNull()
                table.column("title", .text).notNull()
                table.column("details", .text).notNull().defaults(to: "")
                table.column("selectionKind", .text).notNull()
                    .check(sql: "selectionKind IN ('names', 'pattern', 'labels', 'compose')")
                table.column("selectionValues", .text).notNull()
                table.column("showStatus", .boolean).notNull()
                table.column("showStats", .boolean).notNull()
                table.column("showEvents", .boolean).notNull()
                table.column("showLogs", .boolean).notNull()
                table.column("redactions", .text).notNull()
                table.column("sharedWithAll", .boolean).notNull()
                table.column("sharedGroups", .text).notNull()
                table.column("sharedUsers", .text).notNull()
                table.column("createdAt", .datetime).notNull()
                table.column("updatedAt", .datetime).notNull()
            }
            // A link for people without an account. Only the SHA-256 of its token is stored.
            try db.create(table: "dashboardLink") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("dashboardId", .integer).notNull().indexed().references("dashboard", onDelete: .cascade)
                table.column("tokenHash", .text).notNull().unique()
                table.column("label", .text).notNull().defaults(to: "")
                table.column("createdBy", .text).notNull()
                table.column("createdAt", .datetime).notNull()
                table.column("expiresAt", .datetime).notNull()
                table.column("revokedAt", .datetime)
                table.column("revokedBy", .text)
                table.column("lastUsedAt", .datetime)
                table.column("useCount", .integer).notNull().defaults(to: 0)
            }
            // The cookie a link is exchanged for; it opens that one dashboard and nothing else.
            try db.create(table: "shareSession") { table in
                table.primaryKey("tokenHash", .text)
                table.column("linkId", .integer).notNull().indexed().references("dashboardLink", onDelete: .cascade)
                table.column("dashboardId", .integer).notNull()
                table.column("createdAt", .datetime).notNull()
                table.column("lastSeenAt", .datetime).notNull()
                table.column("expiresAt", .datetime).notNull()
            }
        }
        migrator.registerMigration("v6: audit intents") { db in
            // An action's attempt, committed before the action runs and removed in the same transaction that appends
            // its one audit row. What is left here after a crash or a failed write is turned into a row later: an
            // action can't be done without a trace. `event` is the prospective row as JSON; `reserve` holds space
            // that the settling transaction frees just before it appends the row and its search index.
            // `process` names the server process that owns it: only another process's intents are recovered.
            try db.create(table: "auditIntent") { table in
                table.primaryKey("id", .integer)
                table.column("process", .text).notNull()
                table.column("createdAt", .datetime).notNull()
                table.column("event", .text).notNull()
                table.column("reserve", .blob)
            }
        }
        migrator.registerMigration("v7: console grants and recordings") { db in
            // Powers a unix group grants beside the role (the console), resolved with the role at sign-in and at
            // each account re-check. Comma-separated names.
            try db.alter(table: "session") { table in
                table.add(column: "grants", .text).notNull().defaults(to: "")
            }
            // A console session's recording (asciicast v2), kept as zlib-compressed chunks written while it runs, so
            // a long session costs its chunk buffer in memory, not its length. `sha256` (of the uncompressed text)
            // is set when it ends, and is what the session's closing audit row names.
            try db.create(table: "consoleRecording") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("actor", .text).notNull().indexed()
                table.column("container", .text).notNull()
                table.column("containerName", .text).notNull()
                table.column("startedAt", .datetime).notNull()
                table.column("endedAt", .datetime)
                table.column("bytes", .integer).notNull().defaults(to: 0)
                table.column("truncated", .boolean).notNull().defaults(to: false)
                table.column("sha256", .text)
            }
            try db.create(table: "consoleChunk") { table in
                table.column("recordingId", .integer).notNull().references("consoleRecording", onDelete: .cascade)
                table.column("seq", .integer).notNull()
                table.column("data", .blob).notNull()
                table.primaryKey(["recordingId", "seq"])
            }
        }
        migrator.registerMigration("v8: jobs") { db in
            // Work that outlives the page that started it (a pull, a prune, a commit): one row per job, written when
            // it is queued, when it starts and when it ends. Progress lives in memory while it runs; `progress` holds
            // its last snapshot (JSON) and `log` its last lines once it ended. A row left `queued` or `running` by a
            // process that stopped is marked `interrupted` when Berth starts.
            try db.create(table: "job") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("kind", .text).notNull()
                table.column("title", .text).notNull()
                // What it works on (an image reference), for the links its page offers.
                table.column("target", .text)
                table.column("owner", .text).notNull()
                table.column("state", .text).notNull().indexed()
                table.column("createdAt", .datetime).notNull()
                table.column("startedAt", .datetime)
                table.column("endedAt", .datetime)
                table.column("message", .text)
                table.column("progress", .text)
                table.column("log", .text)
            }
        }
        migrator.registerMigration("v9: saved registry logins") { db in
            // A registry login saved for pulls: a person's own (`owner`) or shared (NULL). `secret` is the password
            // sealed with the secret key file (AES-GCM), `keyId` names that key; the key itself is never here.
            try db.create(table: "registryLogin") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("owner", .text)
                table.column("registry", .text).notNull()
                table.column("username", .text).notNull()
                table.column("secret", .blob).notNull()
                table.column("keyId", .text).notNull()
                table.column("createdBy", .text).notNull()
                table.column("createdAt", .datetime).notNull()
                table.column("lastUsedAt", .datetime)
            }
            try db.create(index: "registryLogin_on_registry", on: "registryLogin", columns: ["registry", "owner"])
        }
        migrator.registerMigration("v10: image update checks") { db in
            // What the last update check found per tag a running container was started with and image it runs.
            try db.create(table: "imageUpdate") { table in
                table.column("reference", .text).notNull()
                table.column("imageId", .text).notNull()
                table.column("state", .text).notNull()
                table.column("remoteDigest", .text)
                table.column("localDigest", .text)
                table.column("message", .text)
                table.column("checkedAt", .datetime).notNull()
                table.column("failures", .integer).notNull().defaults(to: 0)
                table.column("retryAt", .datetime)
                table.primaryKey(["reference", "imageId"])
            }
        }
        migrator.registerMigration("v11: alerts") { db in
            // Where alerts go. A webhook's signing secret is sealed with the secret key file, like a registry password.
            try db.create(table: "alertChannel") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("name", .text).notNull().unique()
                table.column("kind", .text).notNull()
                table.column("url", .text).notNull()
                table.column("secret", .blob)
                table.column("keyId", .text)
                table.column("createdBy", .text).notNull()
                table.column("createdAt", .datetime).notNull()
            }
            // When to alert: container events, a name pattern and a label, and the channels (comma-separated ids).
            try db.create(table: "alertRule") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("name", .text).notNull().unique()
                table.column("events", .text).notNull()
                table.column("namePattern", .text).notNull()
                table.column("label", .text).notNull()
                table.column("channels", .text).notNull()
                table.column("createdBy", .text).notNull()
                table.column("createdAt", .datetime).notNull()
            }
            // Every message to every channel: queued with the events it tells of, sent and retried from here, and
            // kept as the channel's delivery log.
            try db.create(table: "alertDelivery") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("channelId", .integer).notNull().indexed()
                table.column("ruleId", .integer)
                table.column("createdAt", .datetime).notNull()
                table.column("message", .text).notNull()
                table.column("state", .text).notNull()
                table.column("attempts", .integer).notNull()
                table.column("nextAttemptAt", .datetime)
                table.column("lastError", .text)
                table.column("sentAt", .datetime)
            }
            try db.create(index: "alertDelivery_on_state_next", on: "alertDelivery", columns: ["state", "nextAttemptAt"])
            // Where the alert watcher left the engine's events: it reads on from there after a restart.
            try db.create(table: "alertCursor") { table in
                table.primaryKey("id", .integer)
                table.column("since", .text).notNull()
            }
        }
        migrator.registerMigration("v12: alert rules for restart loops") { db in
            // A rule on restart loops: more than `restartCount` restarts within `restartMinutes`.
            try db.alter(table: "alertRule") { table in
                table.add(column: "restartCount", .integer).notNull().defaults(to: 3)
                table.add(column: "restartMinutes", .integer).notNull().defaults(to: 10)
            }
        }
        migrator.registerMigration("v13: how far each alert rule has queued") { db in
            // The newest engine event (nanoseconds) a rule's queued messages cover. The shared cursor stays behind
            // the oldest event any rule still gathers; after a crash, what is replayed from there is not told again
            // by the rules that already queued it.
            try db.create(table: "alertRuleMark") { table in
                table.primaryKey("ruleId", .integer).references("alertRule", onDelete: .cascade)
                table.column("through", .integer).notNull()
            }
        }
        migrator.registerMigration("v14: compose project versions") { db in
            // Every saved state of a project's compose file and .env; the folder on disk holds the newest.
            try db.create(table: "projectVersion") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("project", .text).notNull()
                table.column("number", .integer).notNull()
                table.column("composeFile", .text).notNull()
                table.column("envFile", .text).notNull()
                table.column("contentHash", .text).notNull()
                table.column("author", .text).notNull()
                table.column("message", .text).notNull()
                table.column("createdAt", .datetime).notNull()
                table.uniqueKey(["project", "number"])
            }
        }
        migrator.registerMigration("v15: audit search by engine") { db in
            try db.create(index: "auditEvent_on_engine", on: "auditEvent", columns: ["engine", "id"])
        }
        migrator.registerMigration("v16: jobs name their engine") { db in
            try db.alter(table: "job") { table in table.add(column: "engine", .text) }
        }
        migrator.registerMigration("v17: engines added in the browser") { db in
            // Private keys sealed with the secret key (never in the clear here); certificates and known hosts as text.
            try db.create(table: "engine") { table in
                table.primaryKey("name", .text)
                table.column("address", .text).notNull()
                table.column("tlsCA", .text)
                table.column("tlsCertificate", .text)
                table.column("tlsKey", .blob)
                table.column("sshKey", .blob)
                table.column("knownHosts", .text)
                table.column("keyId", .text)
                table.column("adminGroup", .text)
                table.column("operatorGroup", .text)
                table.column("viewerGroup", .text)
                table.column("consoleGroup", .text)
                table.column("createdBy", .text).notNull()
                table.column("createdAt", .datetime).notNull()
                table.column("updatedAt", .datetime)
            }
        }
        migrator.registerMigration("v18: dashboards across engines") { db in
            // Every dashboard made before chose from `local`'s containers.
            try db.alter(table: "dashboard") { table in
                table.add(column: "engines", .text).notNull().defaults(to: "[\"local\"]")
            }
        }
        migrator.registerMigration("v19: audit rows stored small") { db in
            // Issue 24: ten million rows at ≤ 300 bytes each, search included (they took ~700). `AuditStorage` says
            // how a row is stored; every written value reads back unchanged, so every hash still holds — checked
            // below for every row before the old table goes. What the old schema spent bytes on and this one does not:
            // a copy of the searched text inside FTS5 (external content now), per-row token counts (columnsize=0),
            // text times and their index (a time range is found by a search over ids: time never goes back along
            // them), repeated texts, hex as text, whole ids in the target index (a 6-byte prefix finds them), and an
            // index on the outcome (three values: a newest-first scan finds a page of any of them).
            db.add(function: AuditStorage.packHexFunction)
            defer { db.remove(function: AuditStorage.packHexFunction) }
            let words = ["actor", "role", "clientAddress", "userAgent", "action", "targetType", "targetName", "engine", "outcome"]
            // A word column holding anything but an id (a tool wrote it so) shows what it holds, as Berth reads it.
            func wordOf(_ column: String, _ row: String) -> String {
                "CASE typeof(\(row).\(column)) WHEN 'integer' THEN (SELECT word FROM auditWord WHERE id = \(row).\(column)) ELSE \(row).\(column) END"
            }
            func idOf(_ value: String) -> String { "(SELECT id FROM auditWord WHERE word = \(value))" }
            // A text time is stored as milliseconds only when they give back exactly that text.
            func storedTime(_ value: String) -> String {
                let milliseconds = "CAST(round((julianday(\(value)) - 2440587.5) * 86400000.0) AS INTEGER)"
                return """
                    CASE WHEN typeof(\(value)) = 'text' AND \
                    strftime('%Y-%m-%d %H:%M:%f', \(milliseconds) / 1000.0, 'unixepoch') = \(value) \
                    THEN \(milliseconds) ELSE \(value) END
                    """
            }
            // Milliseconds within years 0000–9999 (`AuditStorage.timeRange`); any other number is shown as it is.
            func writtenTime(_ row: String) -> String {
                """
                CASE WHEN typeof(\(row).time) = 'integer' AND \(row).time BETWEEN -62167219200000 AND 253402300799999 \
                THEN strftime('%Y-%m-%d %H:%M:%f', \(row).time / 1000.0, 'unixepoch') ELSE \(row).time END
                """
            }
            func writtenHex(_ column: String, _ row: String) -> String {
                "CASE typeof(\(row).\(column)) WHEN 'blob' THEN lower(hex(\(row).\(column))) ELSE \(row).\(column) END"
            }
            func body(_ row: String) -> String {
                [wordOf("actor", row), wordOf("action", row), wordOf("targetName", row), wordOf("clientAddress", row),
                 "\(row).parameters", "\(row).errorMessage"].map { "coalesce(\($0), '')" }.joined(separator: " || char(31) || ")
            }
            let columns = ["id", "time", "requestId", "actor", "role", "clientAddress", "userAgent", "action", "targetType",
                           "targetId", "targetName", "engine", "parameters", "outcome", "errorMessage", "durationMs", "hash"]
            // `packingHex`: only in this migration, where the packing function exists (`AuditStorage`).
            func stored(from row: String, packingHex: Bool = false) -> String {
                columns.map { column in
                    if column == "time" { return storedTime("\(row).time") }
                    if words.contains(column) { return idOf("\(row).\(column)") }
                    if packingHex, ["requestId", "targetId", "hash"].contains(column) {
                        return "coalesce(berth_audit_pack_hex(\(row).\(column)), \(row).\(column))"
                    }
                    return "\(row).\(column)"
                }.joined(separator: ", ")
            }
            func addWords(from row: String) -> String {
                "INSERT OR IGNORE INTO auditWord (word) SELECT value FROM (" +
                    words.map { "SELECT \(row).\($0) AS value" }.joined(separator: " UNION ALL ") + ") WHERE value IS NOT NULL;"
            }
            try db.execute(sql: """
                DROP TRIGGER auditEvent_text_insert;
                DROP TRIGGER auditEvent_text_delete;
                DROP TRIGGER auditEvent_text_update;
                DROP TRIGGER auditEvent_append_only;
                DROP TABLE auditText;
                ALTER TABLE auditEvent RENAME TO auditEventV18;
                CREATE TABLE auditWord (id INTEGER PRIMARY KEY, word UNIQUE NOT NULL);
                CREATE TABLE auditRow (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, time NOT NULL, requestId,
                    actor INTEGER NOT NULL, role INTEGER, clientAddress INTEGER, userAgent INTEGER, action INTEGER NOT NULL,
                    targetType INTEGER, targetId, targetName INTEGER, engine INTEGER, parameters, outcome INTEGER NOT NULL,
                    errorMessage, durationMs, hash
                );
                CREATE INDEX auditRow_on_actor ON auditRow (actor, id);
                CREATE INDEX auditRow_on_action ON auditRow (action, id);
                CREATE INDEX auditRow_on_engine ON auditRow (engine, id);
                CREATE INDEX auditRow_on_targetName ON auditRow (targetName, id);
                CREATE INDEX auditRow_on_targetId ON auditRow (substr(targetId, 1, 6), id);
                CREATE VIEW auditEvent AS SELECT r.id AS id, \(writtenTime("r")) AS time, \(writtenHex("requestId", "r")) AS requestId,
                    \(wordOf("actor", "r")) AS actor, \(wordOf("role", "r")) AS role,
                    \(wordOf("clientAddress", "r")) AS clientAddress, \(wordOf("userAgent", "r")) AS userAgent,
                    \(wordOf("action", "r")) AS action, \(wordOf("targetType", "r")) AS targetType,
                    \(writtenHex("targetId", "r")) AS targetId, \(wordOf("targetName", "r")) AS targetName,
                    \(wordOf("engine", "r")) AS engine, r.parameters AS parameters, \(wordOf("outcome", "r")) AS outcome,
                    r.errorMessage AS errorMessage, r.durationMs AS durationMs, \(writtenHex("hash", "r")) AS hash
                    FROM auditRow r;
                CREATE TRIGGER auditEvent_insert INSTEAD OF INSERT ON auditEvent BEGIN
                    \(addWords(from: "new"))
                    INSERT INTO auditRow (\(columns.joined(separator: ", "))) VALUES (\(stored(from: "new")));
                END;
                CREATE TRIGGER auditEvent_update INSTEAD OF UPDATE ON auditEvent BEGIN
                    \(addWords(from: "new"))
                    UPDATE auditRow SET (\(columns.joined(separator: ", "))) = (\(stored(from: "new"))) WHERE id = old.id;
                END;
                CREATE TRIGGER auditEvent_delete INSTEAD OF DELETE ON auditEvent BEGIN
                    DELETE FROM auditRow WHERE id = old.id;
                END;
                CREATE TRIGGER auditEvent_append_only BEFORE UPDATE ON auditRow BEGIN
                    SELECT RAISE(ABORT, 'audit rows are append-only');
                END;
                CREATE VIEW auditTextSource AS SELECT r.id AS id, \(body("r")) AS body FROM auditRow r;
                CREATE VIRTUAL TABLE auditText USING fts5(
                    body, tokenize = 'trigram', detail = 'none', columnsize = 0, content = 'auditTextSource', content_rowid = 'id'
                );
                CREATE TRIGGER auditRow_text_insert AFTER INSERT ON auditRow BEGIN
                    INSERT INTO auditText (rowid, body) VALUES (new.id, \(body("new")));
                END;
                CREATE TRIGGER auditRow_text_delete AFTER DELETE ON auditRow BEGIN
                    INSERT INTO auditText (auditText, rowid, body) VALUES ('delete', old.id, \(body("old")));
                END;
                CREATE TRIGGER auditRow_text_update AFTER UPDATE ON auditRow BEGIN
                    INSERT INTO auditText (auditText, rowid, body) VALUES ('delete', old.id, \(body("old")));
                    INSERT INTO auditText (rowid, body) VALUES (new.id, \(body("new")));
                END;
                INSERT OR IGNORE INTO auditWord (word) \(words.map { "SELECT \($0) FROM auditEventV18 WHERE \($0) IS NOT NULL" }.joined(separator: " UNION "));
                INSERT INTO auditRow (\(columns.joined(separator: ", ")))
                    SELECT \(stored(from: "o", packingHex: true)) FROM auditEventV18 o ORDER BY o.id;
                INSERT INTO sqlite_sequence (name, seq) SELECT 'auditRow', 0
                    WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'auditRow');
                UPDATE sqlite_sequence SET seq = max(seq, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'auditEventV18'), 0))
                    WHERE name = 'auditRow';
                """)
            // Every row must read back as it was written (its hash included), or nothing changes.
            let differs = columns.map { "o.\($0) IS NOT n.\($0) OR typeof(o.\($0)) <> typeof(n.\($0))" }.joined(separator: " OR ")
            if let id = try Int64.fetchOne(db, sql: """
                SELECT o.id FROM auditEventV18 o LEFT JOIN auditEvent n ON n.id = o.id WHERE n.id IS NULL OR \(differs)
                ORDER BY o.id LIMIT 1
                """) {
                throw DatabaseError(message: "audit row \(id) would not read back as it was written in the new storage; the audit trail was left as it was")
            }
            let counts = try Row.fetchOne(db, sql: "SELECT (SELECT count(*) FROM auditEventV18), (SELECT count(*) FROM auditRow)")
            guard let counts, counts[0] as Int == counts[1] as Int else {
                throw DatabaseError(message: "the audit trail's new storage does not hold every row; the audit trail was left as it was")
            }
            try db.execute(sql: "DROP TABLE auditEventV18")
        }
        return migrator
    }
}
