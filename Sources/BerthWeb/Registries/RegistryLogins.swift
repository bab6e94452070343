import BerthStore
import EngineAPI
import Foundation

/// Saved registry logins: sealed with the secret key when saved, opened only to be used (a pull), never shown again.
struct RegistryLogins: Sendable {
    let database: AppDatabase
    let key: SecretKey
    /// Where the key is, for the words a login that no longer opens is told with.
    let keyPath: String

    /// The registry as image references name it: lowercased, Docker Hub's aliases as `docker.io`. Nil when it is no
    /// registry address (`host[:port]`).
    static func registryName(_ typed: String) -> String? {
        var text = typed.trimmingCharacters(in: .whitespaces).lowercased()
        for scheme in ["https://", "http://"] where text.hasPrefix(scheme) { text.removeFirst(scheme.count) }
        while text.hasSuffix("/") { text.removeLast() }
        if ["index.docker.io", "registry-1.docker.io", "hub.docker.com", "registry.hub.docker.com"].contains(text) { return "docker.io" }
        guard !text.isEmpty, text.count <= 253,
              text.wholeMatch(of: /[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?/) != nil else { return nil }
        return text
    }

    /// The registry a reference pulls from, named as saved logins name it (Docker Hub's aliases as `docker.io`).
    static func registry(of reference: ImageReference) -> String {
        let raw = reference.registry ?? "docker.io"
        return registryName(raw) ?? raw
    }

    func save(owner: String?, registry: String, username: String, password: String, by actor: String) async throws -> RegistryLogin {
        let context = RegistryLogin.sealContext(owner: owner, registry: registry, username: username)
        let sealed = try key.seal(Data(password.utf8), context: context)
        return try await database.saveRegistryLogin(
            RegistryLogin(owner: owner, registry: registry, username: username, secret: sealed, keyId: key.id, createdBy: actor)
        )
    }

    /// Why a saved login can't be used, in words; nil when it can.
    func problem(with login: RegistryLogin) -> String? {
        do {
            _ = try key.open(login.secret, keyId: login.keyId, context: login.sealContext)
            return nil
        } catch SecretKey.OpenError.otherKey {
            return "It was saved with a secret key this Berth no longer has (the key file \(keyPath) was lost or replaced): remove it and save it again."
        } catch {
            return "Its sealed password does not open with the key in \(keyPath) (the row was changed): remove it and save it again."
        }
    }

    /// The login's credentials, for one use.
    func credentials(_ login: RegistryLogin) throws(AuditTrail.ActionFailure) -> RegistryCredentials {
        let password: Data
        do {
            password = try key.open(login.secret, keyId: login.keyId, context: login.sealContext)
        } catch {
            throw AuditTrail.ActionFailure(
                "The saved login for \(login.registry) can't be used. " + (problem(with: login) ?? "")
            )
        }
        return RegistryCredentials(username: login.username, password: String(decoding: password, as: UTF8.self), serverAddress: login.registry)
    }

    /// The saved login a use by `username` takes for `registry` (their own, else the shared one; nil: Berth's own use,
    /// shared ones only), opened, with its use on record first. Nil when there is none.
    func use(
        for registry: String, by username: String?, audit: AuditTrail, context: some AuditContext, reference: String
    ) async throws(AuditTrail.ActionFailure) -> (credentials: RegistryCredentials, login: RegistryLogin)? {
        let found: RegistryLogin?
        do {
            found = try await database.registryLogin(for: registry, usableBy: username ?? "")
        } catch {
            throw AuditTrail.ActionFailure("The saved registry logins cannot be read: \(error)")
        }
        guard let login = found, let id = login.id else { return nil }
        let credentials = try self.credentials(login)
        guard await audit.record(
            .registryLoginUse, outcome: .ok, context: context, targetType: "registryLogin", targetId: String(id),
            targetName: "\(login.username)@\(login.registry)",
            parameters: ["reference": reference, "for": login.owner == nil ? "everyone" : "own"]
        ) else {
            throw AuditTrail.ActionFailure(AuditTrail.unavailableMessage)
        }
        try? await database.markRegistryLoginUsed(id: id)
        return (credentials, login)
    }
}
