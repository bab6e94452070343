import NIOCore
import NIOSSH

/// Why the SSH connection to an engine's host could not be used, in words for the page that shows it.
struct SSHTunnelError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) { self.description = description }
}

/// Trusts the host only with a key its known_hosts file lists for it.
struct KnownHostsCheck: NIOSSHClientServerAuthenticationDelegate {
    let knownHosts: KnownHosts
    let knownHostsPath: String
    let host: String
    let port: Int

    func validateHostKey(hostKey: NIOSSHPublicKey, validationCompletePromise: EventLoopPromise<Void>) {
        let presented = SSHKeyBlob(hostKey)
        let name = KnownHosts.name(host: host, port: port)
        let shown = "\(presented.kind) key \(presented.fingerprint)"
        switch knownHosts.check(presented, host: host, port: port) {
        case .trusted:
            validationCompletePromise.succeed()
        case .unknown:
            let scan = port == 22 ? "ssh-keyscan \(host)" : "ssh-keyscan -p \(port) \(host)"
            validationCompletePromise.fail(
                SSHTunnelError(
                    "the host key of \(name) is not in \(knownHostsPath) (it presented an \(shown)); check that fingerprint, then add the host with `\(scan) >> \(knownHostsPath)`"
                )
            )
        case .changed(let lines):
            let listing = lines.map(String.init).joined(separator: ", ")
            validationCompletePromise.fail(
                SSHTunnelError(
                    "the host key of \(name) has changed: it presented an \(shown), which \(knownHostsPath) does not list for it (line \(listing) does). Someone may be intercepting the connection, or the host was set up again; if the new key is right, replace that line"
                )
            )
        case .revoked(let line):
            validationCompletePromise.fail(
                SSHTunnelError("the host \(name) presented an \(shown), which \(knownHostsPath) marks @revoked (line \(line))")
            )
        }
    }
}

/// Offers the one private key, once; a second turn means the host refused it.
final class PrivateKeyOffer: NIOSSHClientUserAuthenticationDelegate {
    let user: String
    let key: NIOSSHPrivateKey
    let keyPath: String
    let hostName: String
    private var offered = false

    init(user: String, key: NIOSSHPrivateKey, keyPath: String, hostName: String) {
        self.user = user
        self.key = key
        self.keyPath = keyPath
        self.hostName = hostName
    }

    func nextAuthenticationType(
        availableMethods: NIOSSHAvailableUserAuthenticationMethods,
        nextChallengePromise: EventLoopPromise<NIOSSHUserAuthenticationOffer?>
    ) {
        let fingerprint = SSHKeyBlob(key.publicKey).fingerprint
        guard !offered else {
            nextChallengePromise.fail(
                SSHTunnelError(
                    "\(hostName) refused the key \(keyPath) (\(fingerprint)) for the user \(user): its public half must be in that user's ~/.ssh/authorized_keys on the host"
                )
            )
            return
        }
        guard availableMethods.contains(.publicKey) else {
            nextChallengePromise.fail(SSHTunnelError("\(hostName) does not let \(user) sign in with a key (public key authentication is off)"))
            return
        }
        offered = true
        nextChallengePromise.succeed(
            NIOSSHUserAuthenticationOffer(username: user, serviceName: "", offer: .privateKey(.init(privateKey: key)))
        )
    }
}

/// Completes `authenticated` when the host has accepted the key, or fails it with the first thing that went wrong;
/// after that, errors close the connection (and with it every session on it).
final class SSHHandshakeWatcher: ChannelInboundHandler {
    typealias InboundIn = Any

    private let authenticated: EventLoopPromise<Void>
    private let hostName: String

    init(authenticated: EventLoopPromise<Void>, hostName: String) {
        self.authenticated = authenticated
        self.hostName = hostName
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is UserAuthSuccessEvent { authenticated.succeed() }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        authenticated.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        // Ignored once it succeeded: a promise keeps its first result.
        authenticated.fail(SSHTunnelError("\(hostName) closed the connection during the SSH handshake"))
        context.fireChannelInactive()
    }
}
