import Foundation

/// Container and image ids and names in our own links (`:` may stand in a path segment, as in `sha256:…`).
enum EngineClientPath {
    static func escape(_ idOrName: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._:")
        return idOrName.addingPercentEncoding(withAllowedCharacters: allowed) ?? idOrName
    }
}
