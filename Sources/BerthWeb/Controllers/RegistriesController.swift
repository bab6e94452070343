import BerthStore
import Foundation
import Hummingbird

/// Saved registry logins: a person's own, and shared ones admins save for everyone who pulls. A saved password is
/// never shown again; it is opened only for a pull that uses it, and each use is audited.
struct RegistriesController: Sendable {
    let logins: RegistryLogins
    let audit: AuditTrail
    let views: PageRenderer

    func addRoutes(to routes: Routes) {
        routes.get("/registries", .operateContainers, use: list)
        routes.post("/registries", .operateContainers, audit: .registryLoginSave, use: save)
        routes.post("/registries/{id}/remove", .operateContainers, audit: .registryLoginRemove, use: remove)
    }

    @Sendable func list(_ request: Request, context: SignedInContext) async throws -> Response {
        let saved = try await logins.database.registryLogins(usableBy: context.user.username)
        let page = RegistryLoginsPage(
            logins: saved.map { ($0, logins.problem(with: $0)) }, user: context.user, keyPath: logins.keyPath,
            preferences: context.preferences
        )
        return try views.page("registries", page, context: context)
    }

    /// `POST /registries` (registry, username, password, shared): saves (or replaces) a login; shared ones by admins.
    @Sendable func save(_ request: Request, context: SignedInContext) async throws -> Response {
        let form = context.form
        let typed = form["registry"] ?? ""
        let username = (form["username"] ?? "").trimmingCharacters(in: .whitespaces)
        let password = form["password"] ?? ""
        let shared = form.isChecked("shared")
        guard let registry = RegistryLogins.registryName(typed) else {
            return await audit.refuseInput(
                context: context, targetType: "registryLogin", targetName: String(typed.prefix(256)),
                message: "“\(typed.prefix(256))” is not a registry address: give host or host:port, as in an image reference (docker.io, registry.example.com:5000).",
                back: "/registries"
            )
        }
        guard !username.isEmpty, !password.isEmpty, username.count <= 256, password.utf8.count <= 4096 else {
            return await audit.refuseInput(
                context: context, targetType: "registryLogin", targetName: registry,
                message: "Give a username and a password (at most 256 and 4096 characters).", back: "/registries"
            )
        }
        if shared, context.user.role != .admin {
            await audit.record(
                outcome: .denied, context: context, targetType: "registryLogin", targetName: "\(username)@\(registry)",
                parameters: ["shared": "1"], error: "only admins save shared logins"
            )
            return .redirect(to: "/registries", flash: Flash(.error, "Only administrators save logins for everyone."))
        }
        let owner = shared ? nil : context.user.username
        let actor = context.user.username
        let logins = self.logins
        return await audit.perform(
            context: context, targetType: "registryLogin", targetName: "\(username)@\(registry)",
            parameters: ["registry": registry, "username": username, "shared": shared ? "1" : "0"], back: "/registries"
        ) { () async throws -> AuditTrail.ActionDone in
            let saved = try await logins.save(owner: owner, registry: registry, username: username, password: password, by: actor)
            return .init(
                message: "Saved the login for \(registry)\(shared ? " for everyone who pulls" : ""). Its password is sealed and never shown again.",
                results: ["login": saved.id.map(String.init) ?? ""]
            )
        }
    }

    /// `POST /registries/{id}/remove`: one's own, or a shared one by an admin.
    @Sendable func remove(_ request: Request, context: SignedInContext) async throws -> Response {
        let raw = try context.parameters.require("id")
        let found: RegistryLogin?
        do {
            found = try await Int64(raw).asyncMap { try await logins.database.registryLogin(id: $0) } ?? nil
        } catch {
            return await audit.refuseInput(
                context: context, targetType: "registryLogin", targetId: String(raw.prefix(32)),
                message: "The saved logins cannot be read: \(error)", back: "/registries"
            )
        }
        // Another person's own login is answered as missing.
        guard let login = found, login.owner == nil || login.owner == context.user.username, let id = login.id else {
            return await audit.refuseInput(
                context: context, targetType: "registryLogin", targetId: String(raw.prefix(32)), message: "No such saved login.",
                back: "/registries"
            )
        }
        let name = "\(login.username)@\(login.registry)"
        if login.owner == nil, context.user.role != .admin {
            await audit.record(
                outcome: .denied, context: context, targetType: "registryLogin", targetId: raw, targetName: name,
                error: "only admins remove shared logins"
            )
            return .redirect(to: "/registries", flash: Flash(.error, "Only administrators remove logins saved for everyone."))
        }
        let database = logins.database
        return await audit.perform(
            context: context, targetType: "registryLogin", targetId: raw, targetName: name, back: "/registries"
        ) {
            try await database.deleteRegistryLogin(id: id)
            return "Removed the saved login for \(login.registry)."
        }
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
