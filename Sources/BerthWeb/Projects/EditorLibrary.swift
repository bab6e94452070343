import Foundation
import Hummingbird
import NIOCore

/// CodeMirror 5 as Debian's `libjs-codemirror` installs it, served to the project editor: the library with its YAML
/// mode as one script, and its stylesheet. Without it the editor is a plain text area with the same form.
struct EditorLibrary: Sendable {
    var directory = "/usr/share/javascript/codemirror"

    static let missingMessage =
        "The code editor needs CodeMirror, which is not installed on the Berth server: install Debian's libjs-codemirror package (scripts/install-deps build does)."

    var isInstalled: Bool {
        FileManager.default.fileExists(atPath: directory + "/lib/codemirror.js")
            && FileManager.default.fileExists(atPath: directory + "/mode/yaml/yaml.js")
    }

    func script() throws -> ByteBuffer {
        var buffer = ByteBuffer()
        for part in ["lib/codemirror.js", "mode/yaml/yaml.js"] {
            buffer.writeBytes(try Data(contentsOf: URL(fileURLWithPath: directory + "/" + part)))
            buffer.writeString("\n;\n")
        }
        return buffer
    }

    func stylesheet() throws -> ByteBuffer {
        ByteBuffer(bytes: try Data(contentsOf: URL(fileURLWithPath: directory + "/lib/codemirror.css")))
    }

    /// A file of the library, or the words that say what to install.
    func file(_ contentType: String, _ body: () throws -> ByteBuffer) throws -> Response {
        guard isInstalled else { throw HTTPError(.notFound, message: Self.missingMessage) }
        return Response(
            status: .ok, headers: [.contentType: contentType, .cacheControl: "private, max-age=3600"], body: .init(byteBuffer: try body())
        )
    }
}
