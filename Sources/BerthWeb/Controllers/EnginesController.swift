import BerthStore
import EngineAPI
import Foundation
import Hummingbird

/// `/engines` (admins): every engine Berth administers, where it came from, and the ones admins add, edit and remove
/// in the browser. Their private keys are sealed when saved and never shown again; the rows name engine, address and
/// groups, never a key.
struct EnginesController: Sendable {
    let saved: SavedEngines
    let audit: AuditTrail
    let views: PageRenderer

    func addRoutes(to routes: Routes) {
        routes.get("/engines", .administer, use: list)
        routes.get("/engines/new", .administer, use: newForm)
        routes.post("/engines", .administer, audit: .engineAdd, use: add)
        routes.get("/engines/{engine}/edit", .administer, use: editForm)
        routes.post("/engines/{engine}", .administer, audit: .engineEdit, use: edit)
        routes.post("/engines/{engine}/remove", .administer, audit: .engineRemove, use: remove)
    }

    @Sendable func list(_ request: Request, context: SignedInContext) async throws -> Response {
        let records = try await saved.database.savedEngines()
        let page = EnginesPage(directory: saved.directory, records: records)
        return try views.page("engines", page, context: context)
    }

    @Sendable func newForm(_ request: Request, context: SignedInContext) async throws -> Response {
        try views.page("engine-edit", EngineFormPage(form: .init(), existing: nil, message: nil), context: context)
    }

    @Sendable func editForm(_ request: Request, context: SignedInContext) async throws -> Response {
        let record = try await savedRecord(context)
        var form = SavedEngines.Form()
        form.name = record.name
        form.address = record.address
        form.knownHosts = record.knownHosts ?? ""
        form.tlsCA = record.tlsCA ?? ""
        form.tlsCertificate = record.tlsCertificate ?? ""
        form.groups = record.groups
        return try views.page("engine-edit", EngineFormPage(form: form, existing: record, message: nil), context: context)
    }

    /// `POST /engines`: checked, sealed, saved and set up; the form again with the problem otherwise.
    @Sendable func add(_ request: Request, context: SignedInContext) async throws -> Response {
        try await save(SavedEngines.Form(context.form), existing: nil, context: context)
    }

    /// `POST /engines/{engine}`: the same for a saved engine; key fields left empty keep the sealed keys.
    @Sendable func edit(_ request: Request, context: SignedInContext) async throws -> Response {
        let name = try context.parameters.require("engine")
        guard let record = try await saved.database.savedEngine(named: name) else {
            return await audit.refuseInput(
                context: context, targetType: "engine", targetName: String(name.prefix(64)),
                message: "No engine added in the browser is named “\(name.prefix(64))” (those of berth.toml are changed there).", back: "/engines"
            )
        }
        return try await save(SavedEngines.Form(context.form), existing: record, context: context)
    }

    private func save(_ form: SavedEngines.Form, existing: EngineRecord?, context: SignedInContext) async throws -> Response {
        let name = existing?.name ?? form.name
        let saved = self.saved
        let actor = context.user.username
        var refusal: String?
        let result = try await audit.act(
            context: context, targetType: "engine", targetName: String(name.prefix(64)), parameters: form.auditParameters
        ) { record -> String? in
            do {
                _ = try await saved.save(form, by: actor, existing: existing)
                return existing == nil ? "Added the engine \(name). Its keys are sealed and never shown again." : "Saved the engine \(name)."
            } catch let error as SavedEngines.Refusal {
                record.fail(error.message)
                refusal = error.message
                return nil
            }
        }
        switch result {
        case .refused:
            return try views.page(
                "engine-edit", EngineFormPage(form: form, existing: existing, message: AuditTrail.unavailableMessage), context: context,
                status: .serviceUnavailable
            )
        case .done(nil, _):
            return try views.page(
                "engine-edit", EngineFormPage(form: form, existing: existing, message: refusal), context: context, status: .badRequest
            )
        case .done(let message?, let recorded):
            return .redirect(to: "/engines", flash: AuditTrail.flash(.done(message, recorded: recorded)))
        }
    }

    @Sendable func remove(_ request: Request, context: SignedInContext) async throws -> Response {
        let name = try context.parameters.require("engine")
        let saved = self.saved
        return await audit.perform(context: context, targetType: "engine", targetName: String(name.prefix(64)), back: "/engines") {
            guard try await saved.remove(name) else {
                throw AuditTrail.ActionFailure("No engine added in the browser is named “\(name.prefix(64))”.")
            }
            return "Removed the engine \(name); its keys are gone with it."
        }
    }

    private func savedRecord(_ context: SignedInContext) async throws -> EngineRecord {
        let name = try context.parameters.require("engine")
        guard let record = try await saved.database.savedEngine(named: name) else {
            throw HTTPError(.notFound, message: "No engine added in the browser is named “\(name.prefix(64))”.")
        }
        return record
    }
}
