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
        case "runningCount": runningCount
        case "totalShown": totalShown
        case "engineProblem": engineProblem
        case "isEmpty": isEmpty
        case "showAll": showAll
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
        case "ports": ports
        case "labels": labels
        case "moreLabels": moreLabels
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
