import Foundation

/// A CA, and a server certificate it signed for `localhost` and 127.0.0.1, made with openssl: for a test's TLS server
/// (Berth's own HTTPS, a mail server), trusted through `caPath`.
public struct TestCertificates: Sendable {
    public let caPath: String
    public let certificatePath: String
    public let keyPath: String

    public static func make(in directory: URL) throws -> TestCertificates {
        let path = { (name: String) in directory.appendingPathComponent(name).path }
        try TestUsers.shell(
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Berth test CA",
            "-keyout", path("ca-key.pem"), "-out", path("ca.pem")
        )
        try TestUsers.shell(
            "openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", path("key.pem"), "-out", path("server.csr")
        )
        try Data("subjectAltName=DNS:localhost,IP:127.0.0.1\n".utf8).write(to: directory.appendingPathComponent("san.ext"))
        try TestUsers.shell(
            "openssl", "x509", "-req", "-in", path("server.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca-key.pem"),
            "-CAcreateserial", "-days", "2", "-extfile", path("san.ext"), "-out", path("cert.pem")
        )
        return TestCertificates(caPath: path("ca.pem"), certificatePath: path("cert.pem"), keyPath: path("key.pem"))
    }
}
