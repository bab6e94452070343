import Mustache

// swift-mustache finds a value by building a `Mirror` of every object on its context stack at every `{{name}}`;
// for a list of hundreds of rows that dominated the page's time (see bench/README.md). The types on the container
// list's path answer lookups directly instead.

extension PageContext: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "page": page
        case "currentUser": currentUser
        case "flash": flash
        case "display": display
        case "enginePath": enginePath
        case "engineSwitcher": engineSwitcher
        case "isLocalEngine": isLocalEngine
        default: nil
        }
    }
}

extension CurrentUser: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "username": username
        case "role": role
        case "csrfToken": csrfToken
        case "canOperate": canOperate
        case "isAdmin": isAdmin
        case "canOpenConsole": canOpenConsole
        case "isGlobalAdmin": isGlobalAdmin
        default: nil
        }
    }
}

extension ContainerListPage: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "title": title
        case "query": query
        case "rows": rows
        case "paging": paging
        case "runningCount": runningCount
        case "totalShown": totalShown
        case "engineProblem": engineProblem
        case "isEmpty": isEmpty
        case "showAll": showAll
        case "rowsHTML": rowsHTML
        default: nil
        }
    }
}

extension ContainerRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": id
        case "shortId": shortId
        case "name": self.name
        case "image": image
        case "command": command
        case "state": state
        case "status": status
        case "created": created
        case "createdEpoch": createdEpoch
        case "ports": ports
        case "labels": labels
        case "moreLabels": moreLabels
        case "selectable": selectable
        case "updateAvailable": updateAvailable
        case "enginePath": enginePath
        case "engineName": engineName
        default: nil
        }
    }
}

extension ContainerRow.Label: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "key": key
        case "value": value
        default: nil
        }
    }
}

/// HTML escaping as swift-mustache's own (`< > & " '`), without its per-`Character` dictionary lookup: most values
/// need no escaping at all and are returned as they are. Templates opt in with `{{% CONTENT_TYPE: BERTH_HTML}}` at
/// the start of a block (partials and parents start again with the built-in escaper).
struct FastHTMLContentType: MustacheContentType {
    static let name = "BERTH_HTML"

    func escapeText(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == 0x3C || $0 == 0x3E || $0 == 0x26 || $0 == 0x22 || $0 == 0x27 }) else {
            return text
        }
        var escaped: [UInt8] = []
        escaped.reserveCapacity(text.utf8.count + 32)
        for byte in text.utf8 {
            switch byte {
            case 0x3C: escaped += "&lt;".utf8
            case 0x3E: escaped += "&gt;".utf8
            case 0x26: escaped += "&amp;".utf8
            case 0x22: escaped += "&quot;".utf8
            case 0x27: escaped += "&#39;".utf8
            default: escaped.append(byte)
            }
        }
        return String(decoding: escaped, as: UTF8.self)
    }
}

// The audit page shows 50 rows of many fields each; its types answer lookups directly too (bench/README.md).

extension AuditListPage: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "title": title
        case "filters": filters
        case "isAdmin": isAdmin
        case "rows": rows
        case "isEmpty": isEmpty
        case "nextLink": nextLink
        case "exportCSV": exportCSV
        case "exportNDJSON": exportNDJSON
        case "errors": errors
        case "outcomes": outcomes
        case "actions": actions
        case "engines": engines
        case "showEngines": showEngines
        case "firstPageLink": firstPageLink
        default: nil
        }
    }
}

extension AuditFilters: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "actor": actor
        case "action": action
        case "target": target
        case "outcome": outcome
        case "engine": engine
        case "from": from
        case "to": to
        case "text": text
        case "query": query
        case "errors": errors
        case "forcedActor": forcedActor
        default: nil
        }
    }
}

extension AuditRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": id
        case "time": time
        case "actor": actor
        case "role": role
        case "clientAddress": clientAddress
        case "userAgent": userAgent
        case "action": action
        case "target": target
        case "targetLink": targetLink
        case "replayLink": replayLink
        case "engine": engine
        case "outcome": outcome
        case "isOk": isOk
        case "duration": duration
        case "errorMessage": errorMessage
        case "parameters": parameters
        case "requestId": requestId
        case "hash": hash
        default: nil
        }
    }
}

extension DisplayTime: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "iso": iso
        case "text": text
        case "absolute": absolute
        default: nil
        }
    }
}

extension DisplaySettings: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "theme": theme
        case "timeZone": timeZone
        case "timeStyle": timeStyle
        case "dateFormat": dateFormat
        default: nil
        }
    }
}
