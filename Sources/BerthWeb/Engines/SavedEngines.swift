import BerthStore
import EngineAPI
import Foundation
import Logging

/// Engines admins add in the browser: kept in SQLite with their private keys sealed by the secret key, set up at start
/// and when saved. What an admin typed is checked the way the engine will be reached (the TLS files go together, the
/// SSH key reads, the known hosts list a key) before anything is saved; a key is never shown or written anywhere again.
struct SavedEngines: Sendable {
    let database: AppDatabase
    let key: SecretKey
    let directory: EngineDirectory
    let configuration: AppConfiguration
    let logger: Logger

    /// What an admin typed; the secrets only in memory, for as long as the request lasts.
    struct Form: Sendable {
        var name = ""
        var address = ""
        var tlsCA = ""
        var tlsCertificate = ""
        var tlsKey = ""
        var sshKey = ""
        var knownHosts = ""
        var groups = EngineGroups()

        init() {}

        init(_ fields: FormFields) {
            func text(_ key: String) -> String { (fields[key] ?? "").trimmingCharacters(in: .whitespacesAndNewlines) }
            func group(_ key: String) -> String? { text(key).isEmpty ? nil : text(key) }
            name = text("name")
            address = text("address")
            tlsCA = text("tlsCA")
            tlsCertificate = text("tlsCertificate")
            tlsKey = text("tlsKey")
            sshKey = text("sshKey")
            knownHosts = text("knownHosts")
            groups = EngineGroups(admin: group("adminGroup"), operator: group("operatorGroup"), viewer: group("viewerGroup"), console: group("consoleGroup"))
        }

        /// What its audit row may say: never a key, nor a certificate.
        var auditParameters: [String: String] {
            var parameters = ["address": (try? EngineAddress(parsing: address))?.description ?? "(not an address)"]
            if !tlsCA.isEmpty || !tlsCertificate.isEmpty || !tlsKey.isEmpty { parameters["tls"] = "1" }
            if !sshKey.isEmpty { parameters["sshKey"] = "new" }
            for (role, group) in [("adminGroup", groups.admin), ("operatorGroup", groups.operator), ("viewerGroup", groups.viewer), ("consoleGroup", groups.console)] {
                if let group { parameters[role] = group }
            }
            return parameters
        }
    }

    /// Why a form can't be saved, in words for the admin.
    struct Refusal: Error, Sendable {
        let message: String
    }

    /// Sets up every saved engine; one that can't be set up is left out, and the engines page says why.
    func loadAll() async {
        let records: [EngineRecord]
        do {
            records = try await database.savedEngines()
        } catch {
            logger.error("the engines added in the browser cannot be read", metadata: ["error": "\(error)"])
            return
        }
        for record in records {
            guard !directory.configured.contains(record.name) else {
                directory.recordFailure(record.name, "berth.toml names an engine “\(record.name)” too, and that one is used")
                continue
            }
            do {
                directory.put(try handle(for: record))
            } catch {
                logger.error("an engine added in the browser cannot be set up", metadata: ["engine": "\(record.name)", "error": "\(error)"])
                directory.recordFailure(record.name, Self.words(error))
            }
        }
    }

    /// The engine of a saved row: its keys opened, its client made.
    func handle(for record: EngineRecord) throws -> EngineHandle {
        let address = try EngineAddress(parsing: record.address)
        var tls: EngineTLS.Loaded?
        if let ca = record.tlsCA, let certificate = record.tlsCertificate, let sealed = record.tlsKey {
            let keyPEM = try open(sealed, of: record, .tlsKey)
            tls = try EngineTLS.load(caPEM: ca, certificatePEM: certificate, keyPEM: keyPEM, source: "the engine '\(record.name)'")
        }
        var ssh: EngineSSH.Loaded?
        if let sealed = record.sshKey, let knownHosts = record.knownHosts {
            ssh = try EngineSSH.load(
                key: try open(sealed, of: record, .sshKey), knownHosts: knownHosts, keySource: "of the engine '\(record.name)'",
                knownHostsSource: "the engine '\(record.name)'"
            )
        }
        return EngineHandle(
            name: record.name, client: EngineDirectory.client(record.name, address, tls: tls, ssh: ssh, configuration: configuration, logger: logger),
            roleGroups: record.groups.roleGroups(global: configuration.roleGroups), addedBy: record.createdBy
        )
    }

    private func open(_ sealed: Data, of record: EngineRecord, _ secret: EngineRecord.Secret) throws -> String {
        do {
            let opened = try key.open(sealed, keyId: record.keyId ?? "", context: EngineRecord.sealContext(engine: record.name, secret: secret))
            return String(decoding: opened, as: UTF8.self)
        } catch {
            throw Refusal(message: "its \(secret == .tlsKey ? "TLS" : "SSH") key does not open with the secret key in use (\(error)); save the engine again")
        }
    }

    /// Checks the form, seals its keys, saves the row and puts the engine in place (the one it replaces is shut down).
    /// `existing`: the saved row being edited, whose keys stay when the form leaves them empty.
    func save(_ form: Form, by actor: String, existing: EngineRecord?) async throws -> EngineRecord {
        let name = existing?.name ?? form.name
        guard EngineDefinition.isValidName(name) else {
            throw Refusal(message: "The name must be 1 to 40 lower-case letters, digits and dashes, starting with a letter or digit.")
        }
        guard !directory.configured.contains(name) else {
            throw Refusal(message: "berth.toml names an engine “\(name)”: it is changed there, not here.")
        }
        if existing == nil {
            guard directory.named(name) == nil, try await database.savedEngine(named: name) == nil else {
                throw Refusal(message: "There is an engine named “\(name)” already.")
            }
        }
        // A private key pasted where text is kept in the clear (a certificate, the known hosts) is refused, not kept.
        for (field, text) in [("address", form.address), ("CA certificate", form.tlsCA), ("client certificate", form.tlsCertificate), ("known hosts", form.knownHosts)]
        where text.contains("PRIVATE KEY") {
            throw Refusal(message: "The \(field) field holds a private key: keys go only in the key fields, which are sealed. Nothing was saved.")
        }
        for group in [form.groups.admin, form.groups.operator, form.groups.viewer, form.groups.console].compactMap({ $0 })
        where group.count > 32 || !group.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) {
            throw Refusal(message: "“\(group.prefix(40))” is not a unix group name (letters, digits, dot, dash, underscore; at most 32).")
        }
        let address: EngineAddress
        do {
            address = try EngineAddress(parsing: form.address)
        } catch {
            throw Refusal(message: "That is not an engine address: give tcp://HOST:PORT (with TLS) or ssh://USER@HOST[:PORT].")
        }
        if case .unix = address {
            // A socket of this machine is the configuration file's to name (it would bypass `local`'s own groups).
            throw Refusal(message: "An engine on this machine's socket is named in berth.toml, not here: give tcp://HOST:PORT or ssh://USER@HOST.")
        }
        var record = existing ?? EngineRecord(name: name, address: form.address, createdBy: actor)
        record.address = address.description
        record.adminGroup = form.groups.admin
        record.operatorGroup = form.groups.operator
        record.viewerGroup = form.groups.viewer
        record.consoleGroup = form.groups.console
        if existing != nil { record.updatedAt = Date() }
        // The key id changes only with what is sealed now (a kept key stays bound to the key that sealed it).
        if !form.tlsKey.isEmpty || !form.sshKey.isEmpty { record.keyId = key.id }
        switch address {
        case .tcp:
            // The edit form shows the certificates again but never the key: certificates without a key keep the saved one.
            let keptKey = form.tlsKey.isEmpty && existing?.tlsKey != nil
            guard !form.tlsCA.isEmpty, !form.tlsCertificate.isEmpty, !form.tlsKey.isEmpty || keptKey else {
                throw Refusal(message: "An engine on tcp:// is reached with TLS client certificates only: give the engine's CA certificate, Berth's client certificate and its key.")
            }
            record.tlsCA = form.tlsCA
            record.tlsCertificate = form.tlsCertificate
            if !form.tlsKey.isEmpty {
                record.tlsKey = try key.seal(Data(form.tlsKey.utf8), context: EngineRecord.sealContext(engine: name, secret: .tlsKey))
            }
            record.sshKey = nil
            record.knownHosts = nil
        case .ssh:
            if !form.knownHosts.isEmpty { record.knownHosts = form.knownHosts }
            if !form.sshKey.isEmpty {
                record.sshKey = try key.seal(Data(form.sshKey.utf8), context: EngineRecord.sealContext(engine: name, secret: .sshKey))
            }
            guard record.sshKey != nil, record.knownHosts != nil else {
                throw Refusal(message: "An engine at ssh:// needs the private key Berth signs in with and the host's known_hosts lines.")
            }
            record.tlsCA = nil
            record.tlsCertificate = nil
            record.tlsKey = nil
        case .unix:
            record.tlsCA = nil
            record.tlsCertificate = nil
            record.tlsKey = nil
            record.sshKey = nil
            record.knownHosts = nil
        }
        // Only its groups changed: the running engine takes them, and its connections (an SSH host's sessions,
        // consoles, followed logs) go on.
        if let existing, let running = directory.named(name), running.addedBy != nil, existing.address == record.address,
            existing.tlsCA == record.tlsCA, existing.tlsCertificate == record.tlsCertificate, existing.tlsKey == record.tlsKey,
            existing.sshKey == record.sshKey, existing.knownHosts == record.knownHosts {
            do {
                try await database.saveEngine(record, isNew: false)
            } catch is EngineRecord.SaveConflict {
                throw Refusal(message: "The engine “\(name)” was removed meanwhile.")
            }
            running.setRoleGroups(record.groups.roleGroups(global: configuration.roleGroups))
            return record
        }
        // Set up before it is saved: what can't be used is refused, and nothing changes.
        let engine: EngineHandle
        do {
            engine = try handle(for: record)
        } catch let refusal as Refusal {
            throw refusal
        } catch {
            throw Refusal(message: Self.words(error))
        }
        do {
            // An add inserts (two admins adding one name: the second is refused), an edit updates (an engine removed
            // meanwhile is not brought back).
            try await database.saveEngine(record, isNew: existing == nil)
        } catch let refusal as EngineRecord.SaveConflict {
            try? await engine.client.shutdown()
            throw Refusal(message: refusal == .exists ? "There is an engine named “\(name)” already." : "The engine “\(name)” was removed meanwhile.")
        } catch {
            try? await engine.client.shutdown()
            throw error
        }
        if let replaced = directory.put(engine) {
            directory.retire(replaced, reason: "An administrator changed how Berth reaches the engine \(name); reload the page.")
        }
        return record
    }

    /// Removes a saved engine; false when there was none of that name.
    func remove(_ name: String) async throws -> Bool {
        guard try await database.deleteEngine(named: name) else { return false }
        if let removed = directory.remove(name) {
            directory.retire(removed, reason: "An administrator removed the engine \(name).")
        }
        return true
    }

    static func words(_ error: any Error) -> String {
        if let refusal = error as? Refusal { return refusal.message }
        return "\(error)"
    }
}

extension EngineRecord {
    /// Its groups, as an engine of the configuration file names them.
    var groups: EngineGroups {
        EngineGroups(admin: adminGroup, operator: operatorGroup, viewer: viewerGroup, console: consoleGroup)
    }
}
