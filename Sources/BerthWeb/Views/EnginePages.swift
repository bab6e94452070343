import BerthStore
import EngineAPI

/// What `engines.mustache` shows.
struct EnginesPage: Sendable {
    let title = "Engines"
    let rows: [Row]

    struct Row: Sendable {
        let name: String
        let path: String
        let address: String
        let source: String
        let groups: String?
        /// Added in the browser: it may be edited and removed here.
        let editable: Bool
        /// Why a saved engine is not in use.
        let problem: String?
    }

    init(directory: EngineDirectory, records: [EngineRecord]) {
        let failures = directory.failures
        var rows = directory.all.map { engine in
            Row(
                name: engine.name, path: engine.path, address: engine.client.address.description,
                source: engine.addedBy.map { "added by \($0)" } ?? "berth.toml" + (engine.isLocal ? " (--engine)" : ""),
                groups: engine.roleGroups.map { "admin \($0.admin), operator \($0.operator), viewer \($0.viewer), console \($0.console)" },
                editable: engine.addedBy != nil, problem: nil
            )
        }
        for record in records where directory.named(record.name)?.addedBy == nil {
            rows.append(Row(
                name: record.name, path: "/engines/\(record.name)", address: record.address, source: "added by \(record.createdBy)", groups: nil,
                editable: !directory.configured.contains(record.name), problem: failures[record.name] ?? "not in use"
            ))
        }
        self.rows = rows
    }
}

/// What `engine-edit.mustache` shows: a new engine, or a saved one (its keys never filled in).
struct EngineFormPage: Sendable {
    let title: String
    let isNew: Bool
    let action: String
    let name: String
    let address: String
    let tlsCA: String
    let tlsCertificate: String
    let knownHosts: String
    let adminGroup: String
    let operatorGroup: String
    let viewerGroup: String
    let consoleGroup: String
    let hasTLSKey: Bool
    let hasSSHKey: Bool
    let message: String?

    init(form: SavedEngines.Form, existing: EngineRecord?, message: String?) {
        isNew = existing == nil
        title = existing.map { "Engine \($0.name)" } ?? "Add an engine"
        action = existing.map { "/engines/\($0.name)" } ?? "/engines"
        // What was typed comes back, but never a private key, wherever it was pasted.
        func shown(_ text: String) -> String { text.contains("PRIVATE KEY") ? "" : text }
        name = existing?.name ?? form.name
        address = shown(form.address)
        tlsCA = shown(form.tlsCA)
        tlsCertificate = shown(form.tlsCertificate)
        knownHosts = shown(form.knownHosts)
        adminGroup = form.groups.admin ?? ""
        operatorGroup = form.groups.operator ?? ""
        viewerGroup = form.groups.viewer ?? ""
        consoleGroup = form.groups.console ?? ""
        hasTLSKey = existing?.tlsKey != nil
        hasSSHKey = existing?.sshKey != nil
        self.message = message
    }
}
