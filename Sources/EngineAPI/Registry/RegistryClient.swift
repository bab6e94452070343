import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// What a tag names in its registry now, asked without pulling: the Registry HTTP API v2's manifest `HEAD`, with the
/// token (or basic) authentication dance registries ask for. Update checks use it to tell whether a newer image is
/// there than the one a container runs.
public final class RegistryClient: Sendable {
    let client: HTTPClient
    /// How long one registry may take to answer one request.
    let timeout: TimeAmount

    public init(timeout: TimeAmount = .seconds(20)) {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .follow(max: 3, allowCycles: false))
        configuration.timeout = .init(connect: .seconds(10), read: timeout)
        client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
        self.timeout = timeout
    }

    public func shutdown() async throws {
        try await client.shutdown()
    }

    /// The manifest types a tag may name; asking for all of them gets the digest the engine pulls by (an index for a
    /// multi-platform image).
    static let accept = [
        "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json",
    ].joined(separator: ", ")

    /// Docker Hub's names for itself.
    static let hubNames: Set<String> = ["docker.io", "index.docker.io", "registry-1.docker.io"]

    /// A repository as Docker Hub's short form names it (`docker.io/library/busybox` → `busybox`), others as they are.
    public static func familiar(_ repository: String) -> String {
        var name = repository
        for hub in hubNames where name.hasPrefix(hub + "/") { name.removeFirst(hub.count + 1) }
        if name.hasPrefix("library/"), name.split(separator: "/").count == 2 { name.removeFirst("library/".count) }
        return name
    }

    /// Whether a registry host is this machine: `localhost`, an IPv4 address in 127.0.0.0/8, or `[::1]`.
    static func isLoopback(_ registry: String) -> Bool {
        if registry.hasPrefix("[::1]") { return true }
        let host = registry.split(separator: ":").first.map(String.init) ?? registry
        if host == "localhost" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// Where a reference's registry answers, and the repository's path there (Docker Hub's official images live
    /// under `library/`). Registries on the loopback are spoken to over plain HTTP, as the engine does by default.
    public static func endpoint(of reference: ImageReference) -> (base: String, path: String, loopback: Bool) {
        guard let registry = reference.registry, !hubNames.contains(registry) else {
            let path = familiar(reference.repository)
            return ("https://registry-1.docker.io", path.contains("/") ? path : "library/" + path, false)
        }
        let path = String(reference.repository.dropFirst(registry.count + 1))
        let loopback = isLoopback(registry)
        return ((loopback ? "http://" : "https://") + registry, path, loopback)
    }

    /// The digest `reference`'s tag names in its registry now.
    public func digest(of reference: ImageReference, credentials: RegistryCredentials?) async throws(RegistryError) -> String {
        let (base, path, loopback) = Self.endpoint(of: reference)
        let url = "\(base)/v2/\(path)/manifests/\(reference.tag ?? "latest")"
        do {
            var response = try await head(url, authorization: nil)
            if response.status == .unauthorized {
                let challenge = response.headers["WWW-Authenticate"].first ?? ""
                let authorization = try await authorize(challenge: challenge, path: path, credentials: credentials, plainAllowed: loopback)
                response = try await head(url, authorization: authorization)
            }
            switch response.status {
            case .ok:
                if let digest = response.headers["Docker-Content-Digest"].first, digest.hasPrefix("sha256:") { return digest }
                throw RegistryError.unexpected("the registry named no digest for \(reference)")
            case .unauthorized, .forbidden:
                throw RegistryError.refused(
                    credentials == nil ? "the registry wants a login for \(path) (save one under Registry logins)"
                        : "the registry refused the saved login for \(path)"
                )
            case .notFound:
                throw RegistryError.notFound("the registry has no \(path):\(reference.tag ?? "latest")")
            case .tooManyRequests:
                throw RegistryError.unavailable("the registry limits requests (429); tried again later")
            default:
                throw RegistryError.unavailable("the registry answered \(response.status.code)")
            }
        } catch let error as RegistryError {
            throw error
        } catch {
            throw RegistryError.unavailable("\(base) did not answer: \(Self.words(for: error))")
        }
    }

    private func head(_ url: String, authorization: String?) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: url)
        request.method = .HEAD
        request.headers.add(name: "Accept", value: Self.accept)
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        return try await client.execute(request, timeout: timeout)
    }

    /// Answers a `WWW-Authenticate` challenge: `Basic` with the credentials, or `Bearer` with a pull token from the
    /// realm (asked with the credentials when there are any, anonymously otherwise).
    private func authorize(challenge: String, path: String, credentials: RegistryCredentials?, plainAllowed: Bool) async throws -> String {
        let scheme = challenge.prefix { $0 != " " }.lowercased()
        let basic = credentials.map { "Basic " + Data("\($0.username):\($0.password)".utf8).base64EncodedString() }
        if scheme == "basic" {
            guard let basic else { throw RegistryError.refused("the registry wants a login for \(path) (save one under Registry logins)") }
            return basic
        }
        guard scheme == "bearer" else { throw RegistryError.unexpected("the registry asks for an authentication Berth does not speak: \(scheme)") }
        let parameters = Self.challengeParameters(String(challenge.dropFirst(scheme.count)))
        guard let realm = parameters["realm"], var components = URLComponents(string: realm),
              components.scheme == "https" || components.scheme == "http" else {
            throw RegistryError.unexpected("the registry's token service is not named")
        }
        // A login goes in clear only to a registry on this machine.
        guard components.scheme == "https" || plainAllowed || basic == nil else {
            throw RegistryError.refused("the registry's token service is not HTTPS (\(realm)): the saved login is not sent there")
        }
        var query = components.queryItems ?? []
        if let service = parameters["service"] { query.append(URLQueryItem(name: "service", value: service)) }
        query.append(URLQueryItem(name: "scope", value: parameters["scope"] ?? "repository:\(path):pull"))
        components.queryItems = query
        guard let tokenURL = components.string else { throw RegistryError.unexpected("the registry's token service is not a URL") }
        var request = HTTPClientRequest(url: tokenURL)
        if let basic { request.headers.add(name: "Authorization", value: basic) }
        let response = try await client.execute(request, timeout: timeout)
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else {
            throw RegistryError.refused("the registry's token service refused \(credentials == nil ? "an anonymous pull" : "the saved login") (\(response.status.code))")
        }
        struct Token: Decodable {
            let token: String?
            let access_token: String?
        }
        guard let token = try? JSONDecoder().decode(Token.self, from: Data(body.readableBytesView)), let value = token.token ?? token.access_token else {
            throw RegistryError.unexpected("the registry's token service sent no token")
        }
        return "Bearer " + value
    }

    /// `realm="https://…",service="…",scope="…"` as a dictionary.
    static func challengeParameters(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for match in text.matches(of: /([a-zA-Z_]+)="([^"]*)"/) {
            result[String(match.output.1).lowercased()] = String(match.output.2)
        }
        return result
    }

    static func words(for error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout, .deadlineExceeded, .readTimeout: return "it took too long"
            default: return "\(error)"
            }
        }
        if let error = error as? NIOConnectionError { return "cannot connect (\(error.connectionErrors.first.map { "\($0.error)" } ?? "refused"))" }
        return "\(error)"
    }
}

/// Why a registry could not say what a tag names now.
public enum RegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// It did not answer, answered with a server error or limits requests: worth trying again later.
    case unavailable(String)
    /// It wants a login it did not get, or refused the one it got.
    case refused(String)
    case notFound(String)
    case unexpected(String)

    public var description: String {
        switch self {
        case .unavailable(let words), .refused(let words), .notFound(let words), .unexpected(let words): words
        }
    }
}
