import EngineAPI
import Foundation
import Hummingbird
import HummingbirdCore

/// What `containers.mustache` shows.
///
/// Templates read stored properties only (swift-mustache looks values up by reflection), so derived values are
/// computed once in the initialiser.
struct ContainerListPage: Sendable {
    let title = "Containers"
    let query: ContainerListQuery
    /// This page's rows (``ContainerListPaging``); the counts are the whole list's.
    let rows: [ContainerRow]
    let paging: ContainerListPaging?
    let runningCount: Int
    let totalShown: Int
    /// Set when the engine could not be asked; the page still renders, with a banner.
    let engineProblem: EngineProblem?
    let isEmpty: Bool
    let showAll: Bool
    /// Where the rows go: the renderer writes them into the response there (``PageRenderer/containerListPage``).
    let rowsHTML = PageRenderer.rowsMarker

    /// `rows` is the whole list, sorted; the page keeps the slice its paging shows (`path` is where the list is).
    init(query: ContainerListQuery, rows: [ContainerRow], runningCount: Int, totalShown: Int, engineProblem: EngineProblem?, path: String = "") {
        self.query = query
        (self.rows, paging) = ContainerListPaging.page(of: rows, query: query, path: path)
        self.runningCount = runningCount
        self.totalShown = totalShown
        self.engineProblem = engineProblem
        isEmpty = rows.isEmpty && engineProblem == nil
        showAll = query.showAll
    }
}

/// The banner shown when the engine is down or answered nonsense.
struct EngineProblem: Sendable {
    let address: String
    let message: String
}

/// One row of the container list, already formatted. Hashable by every field it shows: the key of its cached HTML.
struct ContainerRow: Sendable, Hashable {
    let id: String
    let shortId: String
    let name: String
    let image: String
    let command: String
    let state: String
    let status: String
    let created: String
    let createdEpoch: Int64
    let ports: String
    let labels: [Label]
    /// How many labels are not shown; nil when all are (Mustache treats 0 as true).
    let moreLabels: Int?
    /// Whether the row gets a checkbox for bulk actions (operators and admins); kept on the row so the template
    /// need not walk up to the user for every row.
    var selectable = false
    /// The last update check found a newer image for the tag it was started with.
    var updateAvailable = false
    /// What its link starts with (the page's engine).
    var enginePath = ""
    /// Its engine's name, shown in a column of its own on the overview of all engines; nil elsewhere.
    var engineName: String?

    struct Label: Sendable, Hashable {
        let key: String
        let value: String
    }

    static let maxLabelsShown = 4

    init(_ summary: ContainerSummary) {
        id = summary.id
        shortId = String(summary.id.prefix(12))
        name = summary.name
        image = summary.image ?? ""
        command = summary.command ?? ""
        state = summary.state ?? "unknown"
        status = summary.status ?? ""
        created = summary.created.map { Self.format(epochSeconds: $0) } ?? ""
        createdEpoch = summary.created ?? 0
        ports = Self.format(ports: summary.ports ?? [])
        let sortedLabels = (summary.labels ?? [:]).sorted { $0.key < $1.key }
        labels = sortedLabels.prefix(Self.maxLabelsShown).map { Label(key: $0.key, value: $0.value) }
        moreLabels = sortedLabels.count > Self.maxLabelsShown ? sortedLabels.count - Self.maxLabelsShown : nil
    }

    /// `0.0.0.0:8080→80/tcp, 443/tcp`, as `docker ps` shows them.
    static func format(ports: [ContainerSummary.Port]) -> String {
        var seen = Set<String>()
        return ports.compactMap { port -> String? in
            guard let privatePort = port.privatePort else { return nil }
            let proto = port.type ?? "tcp"
            let text: String
            if let publicPort = port.publicPort {
                let ip = port.ip ?? "0.0.0.0"
                let host = ip.contains(":") ? "[\(ip)]" : ip
                text = "\(host):\(publicPort)→\(privatePort)/\(proto)"
            } else {
                text = "\(privatePort)/\(proto)"
            }
            return seen.insert(text).inserted ? text : nil
        }.joined(separator: ", ")
    }

    /// `2026-11-22 16:23 UTC`.
    static func format(epochSeconds: Int64) -> String {
        var time = time_t(epochSeconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        // By hand: `String(format:)` costs more than the rest of a row on Linux, and there are hundreds of rows.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(20)
        func digits(_ value: Int32, _ width: Int) {
            var text = Array(String(value).utf8)
            while text.count < width { text.insert(UInt8(ascii: "0"), at: 0) }
            bytes += text
        }
        digits(parts.tm_year + 1900, 4)
        bytes.append(UInt8(ascii: "-"))
        digits(parts.tm_mon + 1, 2)
        bytes.append(UInt8(ascii: "-"))
        digits(parts.tm_mday, 2)
        bytes.append(UInt8(ascii: " "))
        digits(parts.tm_hour, 2)
        bytes.append(UInt8(ascii: ":"))
        digits(parts.tm_min, 2)
        bytes += Array(" UTC".utf8)
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Which rows of a sorted list one page shows, and the links to the others (filters and order kept). A browser gets
/// a page of rows, not thousands; the counts above it are the whole list's.
struct ContainerListPaging: Sendable {
    let page: Int
    let pages: Int
    let range: Range<Int>
    /// `41–60 of 1,000 · page 3 of 50`, for the pager.
    let position: String
    let previousLink: String?
    let nextLink: String?
    let firstLink: String?
    let lastLink: String?

    /// The rows one page shows, and its pager (nil when the whole list fits one page).
    static func page(of rows: [ContainerRow], query: ContainerListQuery, path: String) -> ([ContainerRow], ContainerListPaging?) {
        let paging = ContainerListPaging(query: query, total: rows.count, path: path)
        return (Array(rows[paging.range]), paging.pages > 1 ? paging : nil)
    }

    init(query: ContainerListQuery, total: Int, path: String) {
        let size = query.pageSize
        pages = max(1, (total + size - 1) / size)
        // A page past the end (the list shrank since the link was made) shows the last one.
        page = min(query.page, pages)
        range = min((page - 1) * size, total)..<min(page * size, total)
        position = "\((range.lowerBound + 1).grouped)–\(range.upperBound.grouped) of \(total.grouped) · page \(page.grouped) of \(pages.grouped)"
        func link(_ page: Int) -> String { path + query.queryString(page: page) }
        previousLink = page > 1 ? link(page - 1) : nil
        nextLink = page < pages ? link(page + 1) : nil
        firstLink = page > 2 ? link(1) : nil
        lastLink = page < pages - 1 ? link(pages) : nil
    }
}

/// The list's filters, order and page, from the query string.
struct ContainerListQuery: Sendable {
    let showAll: Bool
    let name: String
    let image: String
    let label: String
    let state: String
    let sort: ContainerSort
    /// 1-based.
    let page: Int
    /// Rows a page shows (`per`, within ``pageSizes``).
    let pageSize: Int

    static let pageSizes = [50, 100, 250, 500]
    static let defaultPageSize = 100

    static let states = ["created", "running", "paused", "restarting", "removing", "exited", "dead"]

    /// `showAllByDefault` is the user's setting, used when the query does not say (`all=0` or `all=1`).
    init(_ parameters: FlatDictionary<Substring, Substring>, showAllByDefault: Bool = false) {
        func text(_ key: String) -> String {
            let value = parameters[Substring(key)].map { String($0) } ?? ""
            return String(value.trimmingCharacters(in: .whitespaces).prefix(200))
        }
        // The form sends a hidden all=0 before the checkbox's all=1: the last one wins.
        let all = parameters.getAll("all").last.map { String($0) } ?? (showAllByDefault ? "1" : "0")
        state = Self.states.contains(text("state")) ? text("state") : ""
        // A state other than running only makes sense over all containers.
        showAll = all == "1" || all == "true" || (!state.isEmpty && state != "running")
        name = text("name")
        image = text("image")
        label = text("label")
        sort = ContainerSort(rawValue: text("sort")) ?? .created
        // A page number too large for an Int is past the end as well: the last page, as for any other.
        let pageText = text("page")
        page = max(1, Int(pageText) ?? (!pageText.isEmpty && pageText.allSatisfy(\.isASCII) && pageText.allSatisfy(\.isNumber) ? .max : 1))
        let per = Int(text("per")) ?? Self.defaultPageSize
        pageSize = Self.pageSizes.contains(per) ? per : Self.defaultPageSize
        isFiltered = !name.isEmpty || !image.isEmpty || !label.isEmpty || !state.isEmpty
        stateOptions = Self.states.map { [state] in Option(value: $0, selected: $0 == state) }
        sortOptions = ContainerSort.allCases.map { [sort] in Option(value: $0.rawValue, selected: $0 == sort) }
        pageSizeOptions = Self.pageSizes.map { [pageSize] in Option(value: String($0), selected: $0 == pageSize) }
        // Switching between running and all, or clearing the filters, keeps the order and page size (and the
        // switch keeps the filters, but a state only all containers can have).
        let filters = [("name", name), ("image", image), ("label", label)]
        let order = (sort: sort, pageSize: pageSize)
        runningLink = Self.queryString(showAll: false, filters: filters + (state == "running" ? [("state", state)] : []), order, page: nil)
        allLink = Self.queryString(showAll: true, filters: filters + [("state", state)], order, page: nil)
        clearLink = Self.queryString(showAll: showAll, filters: [], order, page: nil)
    }

    /// The query string of this list at another page: `?all=1&name=web&sort=name&per=100&page=3`.
    func queryString(page: Int) -> String {
        Self.queryString(
            showAll: showAll, filters: [("name", name), ("image", image), ("label", label), ("state", state)], (sort, pageSize), page: page
        )
    }

    private static func queryString(
        showAll: Bool, filters: [(String, String)], _ order: (sort: ContainerSort, pageSize: Int), page: Int?
    ) -> String {
        var parts = ["all=" + (showAll ? "1" : "0")]
        for (key, value) in filters where !value.isEmpty {
            parts.append(key + "=" + (value.addingPercentEncoding(withAllowedCharacters: Self.queryValue) ?? ""))
        }
        if order.sort != .created { parts.append("sort=" + order.sort.rawValue) }
        if order.pageSize != Self.defaultPageSize { parts.append("per=\(order.pageSize)") }
        if let page { parts.append("page=\(page)") }
        return "?" + parts.joined(separator: "&")
    }

    /// RFC 3986's unreserved characters (ASCII only: `CharacterSet.alphanumerics` holds every script's letters).
    private static let queryValue = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    var engineFilters: ContainerFilters {
        ContainerFilters(
            status: state.isEmpty ? [] : [state],
            label: label.isEmpty ? [] : [label],
            name: name.isEmpty ? [] : [name],
            ancestor: image.isEmpty ? [] : [image]
        )
    }

    // Stored, not computed: templates only see stored properties.
    let isFiltered: Bool
    /// The query strings of the "Running" and "All" switch and of "clear filters".
    let runningLink: String
    let allLink: String
    let clearLink: String
    /// The state choices for the filter's select, with the current one marked.
    let stateOptions: [Option]
    let sortOptions: [Option]
    let pageSizeOptions: [Option]

    struct Option: Sendable {
        let value: String
        let selected: Bool
    }
}

enum ContainerSort: String, CaseIterable, Sendable {
    case created, name, image, state

    func apply(to rows: [ContainerRow]) -> [ContainerRow] {
        switch self {
        case .created: rows.sorted { ($0.createdEpoch, $0.id) > ($1.createdEpoch, $1.id) }
        case .name: rows.sorted { $0.name.localizedStandardCompare($1.name) == .orderedAscending }
        case .image: rows.sorted { ($0.image, $0.name) < ($1.image, $1.name) }
        case .state: rows.sorted { ($0.state, $0.name) < ($1.state, $1.name) }
        }
    }
}

extension Int {
    /// `5,000`: the list's numbers as the page shows them.
    var grouped: String {
        let digits = String(magnitude)
        var text = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { text.append(",") }
            text.append(digit)
        }
        return self < 0 ? "-" + text : text
    }
}
