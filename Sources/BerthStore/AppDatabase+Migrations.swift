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
        return migrator
    }
}
