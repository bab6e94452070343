import Foundation
import NIOCore

/// xterm.js for the console page, from Debian's packages: one script made of `node-xterm`'s CommonJS modules and
/// `libjs-xterm`'s fit addon, and `libjs-xterm`'s stylesheet.
///
/// Debian 12's `libjs-xterm` ships a `xterm.js` that only `require`s the library (its build left the bundle out), so
/// a browser can't load it as it is. The modules themselves are complete; this wraps each in a function and adds the
/// few lines of `require` that resolve their relative paths, so the page gets `window.Terminal` without any code of
/// the library copied into Berth.
struct TerminalLibrary: Sendable {
    let modulesDirectory: String
    let addonsDirectory: String

    init(settings: ConsoleSettings) {
        modulesDirectory = settings.terminalModules
        addonsDirectory = settings.terminalAddons
    }

    /// What an operator installs when the library is missing.
    static let missingMessage =
        "The console needs xterm.js, which is not installed on the Berth server: install Debian's node-xterm package (scripts/install-deps build does)."

    var isInstalled: Bool {
        FileManager.default.fileExists(atPath: modulesDirectory + "/public/Terminal.js")
            && FileManager.default.fileExists(atPath: addonsDirectory + "/addons/fit/fit.js")
    }

    /// The stylesheet, as the package installs it.
    func stylesheet() throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: addonsDirectory + "/xterm.css"))
    }

    /// The script: every module keyed by its path without `.js` (`public/Terminal`), then the two the page uses.
    func script() throws -> String {
        var modules: [(String, String)] = []
        let root = URL(fileURLWithPath: modulesDirectory)
        guard let walker = FileManager.default.enumerator(atPath: modulesDirectory) else {
            throw CocoaError(.fileNoSuchFile)
        }
        while let path = walker.nextObject() as? String {
            // The tests and the package's own stub entry point are not part of the library.
            guard path.hasSuffix(".js"), !path.hasSuffix(".test.js"), path != "xterm.js" else { continue }
            let source = try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
            modules.append((String(path.dropLast(3)), source))
        }
        let fit = try String(contentsOf: URL(fileURLWithPath: addonsDirectory + "/addons/fit/fit.js"), encoding: .utf8)
        modules.append(("addons/fit/fit", fit))
        modules.sort { $0.0 < $1.0 }

        var script = "// xterm.js \(Self.version(modulesDirectory)) from Debian's node-xterm and libjs-xterm, wrapped by Berth.\n"
        script += "(function () {\n'use strict';\nvar sources = {};\n"
        for (name, source) in modules {
            // Source maps are not installed; a comment pointing at one would only make the browser ask for it.
            let body = source.split(separator: "\n", omittingEmptySubsequences: false)
                .filter { !$0.hasPrefix("//# sourceMappingURL=") }
                .joined(separator: "\n")
            script += "sources[\(Self.jsonString(name))] = function (module, exports, require) {\n\(body)\n};\n"
        }
        script += Self.loader
        return script
    }

    /// Resolves `./x` and `../x` against the requiring module, runs each module once.
    private static let loader = """
        var cache = {};
        function resolve(from, path) {
          var parts = from.split('/').slice(0, -1);
          path.split('/').forEach(function (part) {
            if (part === '..') { parts.pop(); } else if (part !== '.' && part !== '') { parts.push(part); }
          });
          var name = parts.join('/');
          if (!(name in sources) && (name + '/index') in sources) { name = name + '/index'; }
          return name;
        }
        function load(name) {
          if (cache[name]) { return cache[name].exports; }
          if (!(name in sources)) { throw new Error('xterm.js module missing: ' + name); }
          var module = { exports: {} };
          cache[name] = module;
          sources[name].call(module.exports, module, module.exports, function (path) { return load(resolve(name, path)); });
          return module.exports;
        }
        window.Terminal = load('public/Terminal').Terminal;
        window.TerminalFit = load('addons/fit/fit');
        })();

        """

    private static func version(_ modulesDirectory: String) -> String {
        let package = URL(fileURLWithPath: modulesDirectory).deletingLastPathComponent().appendingPathComponent("package.json")
        guard let data = try? Data(contentsOf: package),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let version = object["version"] as? String
        else { return "" }
        return version
    }

    private static func jsonString(_ text: String) -> String {
        var buffer = ByteBuffer()
        var text = text
        text.withUTF8 { JSONEscaping.writeString($0, to: &buffer) }
        return String(buffer: buffer)
    }
}
