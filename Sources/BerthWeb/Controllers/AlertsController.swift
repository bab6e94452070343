import BerthStore
import Foundation
import Hummingbird

/// Alerts (admins): channels (webhook, ntfy, e-mail) with their delivery logs and a test button, and the rules that say which
/// container events go to which channels.
struct AlertsController: Sendable {
    let database: AppDatabase
    let key: SecretKey
    let watcher: AlertWatcher
    let sender: AlertSender
    let allowLocal: Bool
    let audit: AuditTrail
    let views: PageRenderer

    func addRoutes(to routes: Routes) {
        routes.get("/alerts", .administer, use: page)
        routes.post("/alerts/channels", .administer, audit: .alertChannelSave, use: saveChannel)
        routes.get("/alerts/channels/{id}", .administer, use: channelPage)
        routes.post("/alerts/channels/{id}/test", .administer, audit: .alertTest, use: test)
        routes.post("/alerts/channels/{id}/remove", .administer, audit: .alertChannelRemove, use: removeChannel)
        routes.post("/alerts/rules", .administer, audit: .alertRuleSave, use: saveRule)
        routes.post("/alerts/rules/{id}/remove", .administer, audit: .alertRuleRemove, use: removeRule)
    }

    @Sendable func page(_ request: Request, context: SignedInContext) async throws -> Response {
        let page = AlertsPage(channels: try await database.alertChannels(), rules: try await database.alertRules(), allowLocal: allowLocal)
        return try views.page("alerts", page, context: context)
    }

    @Sendable func channelPage(_ request: Request, context: SignedInContext) async throws -> Response {
        let channel = try await channel(context)
        let deliveries = try await database.alertDeliveries(channelId: channel.id ?? 0)
        return try views.page("alert-channel", AlertChannelPage(channel, deliveries: deliveries, preferences: context.preferences), context: context)
    }

    func channel(_ context: SignedInContext) async throws -> AlertChannel {
        let raw = try context.parameters.require("id")
        guard let id = Int64(raw), let channel = try await database.alertChannel(id: id) else {
            throw HTTPError(.notFound, message: "No such alert channel.")
        }
        return channel
    }

    /// `POST /alerts/channels` (name, kind, url, secret): a webhook needs a signing secret; a mail server may need a
    /// password. Either is sealed like any stored secret.
    @Sendable func saveChannel(_ request: Request, context: SignedInContext) async throws -> Response {
        let form = context.form
        let name = (form["name"] ?? "").trimmingCharacters(in: .whitespaces)
        let url = (form["url"] ?? "").trimmingCharacters(in: .whitespaces)
        let secret = form["secret"] ?? ""
        let kind = AlertChannel.Kind(rawValue: form["kind"] ?? "")
        // Only where it goes: a URL's user, path and query may hold a token (ntfy's auth=, a chat hook's path).
        let parameters = ["name": name, "kind": form["kind"] ?? "", "destination": OutboundURL.destination(url)]
        var problem: String?
        if name.isEmpty || name.count > 100 { problem = "Give the channel a name (at most 100 characters)." }
        if kind == nil { problem = "Choose webhook, ntfy or e-mail." }
        if kind == .webhook, secret.count < 16 { problem = "A webhook needs a signing secret of at least 16 characters: receivers check the X-Berth-Signature header with it." }
        if problem == nil, let kind {
            do {
                if case .mail(let address, _) = try await ChannelTarget.check(kind: kind, address: url, allowLocal: allowLocal),
                   address.username != nil, secret.isEmpty {
                    problem = "The mail server's user needs its password in the secret field."
                }
            } catch {
                problem = error.message
            }
        }
        if let problem {
            return await audit.refuseInput(context: context, targetType: "alertChannel", targetName: name, parameters: parameters, message: problem, back: "/alerts")
        }
        let database = self.database
        let key = self.key
        let actor = context.user.username
        return await audit.perform(context: context, targetType: "alertChannel", targetName: name, parameters: parameters, back: "/alerts") {
            var channel = AlertChannel(name: name, kind: kind!, url: url, secret: nil, keyId: nil, createdBy: actor)
            if kind == .webhook || (kind == .email && !secret.isEmpty) {
                channel.secret = try key.seal(Data(secret.utf8), context: channel.sealContext)
                channel.keyId = key.id
            }
            _ = try await database.saveAlertChannel(channel)
            return "Saved the channel \(name)."
        }
    }

    @Sendable func removeChannel(_ request: Request, context: SignedInContext) async throws -> Response {
        let channel = try await channel(context)
        let database = self.database
        let watcher = self.watcher
        return await audit.perform(context: context, targetType: "alertChannel", targetId: channel.id.map(String.init), targetName: channel.name, back: "/alerts") {
            try await database.deleteAlertChannel(id: channel.id ?? 0)
            await watcher.reloadRules()
            return "Removed the channel \(channel.name) and its delivery log."
        }
    }

    /// `POST /alerts/channels/{id}/test`: a test message, queued and sent like any other; the log shows how it went.
    @Sendable func test(_ request: Request, context: SignedInContext) async throws -> Response {
        let channel = try await channel(context)
        let database = self.database
        let sender = self.sender
        let message = AlertMessage(rule: channel.name, event: "test", containers: [], engine: watcher.engineName)
        return await audit.perform(
            context: context, targetType: "alertChannel", targetId: channel.id.map(String.init), targetName: channel.name,
            back: "/alerts/channels/\(channel.id ?? 0)"
        ) {
            try await database.queueAlertDeliveries([AlertDelivery(channelId: channel.id ?? 0, ruleId: nil, message: message.json)], cursor: nil)
            sender.wake()
            return "A test message is on its way to \(channel.name); its delivery shows below."
        }
    }

    /// `POST /alerts/rules` (name, events, namePattern, label, channels).
    @Sendable func saveRule(_ request: Request, context: SignedInContext) async throws -> Response {
        let form = context.form
        let name = (form["name"] ?? "").trimmingCharacters(in: .whitespaces)
        let events = AlertRule.Event.allCases.filter { form.isChecked("event-\($0.rawValue)") }
        let pattern = (form["namePattern"] ?? "").trimmingCharacters(in: .whitespaces)
        let label = (form["label"] ?? "").trimmingCharacters(in: .whitespaces)
        let restartCount = Int(form["restartCount"] ?? "") ?? 3
        let restartMinutes = Int(form["restartMinutes"] ?? "") ?? 10
        let known = Set(try await database.alertChannels().compactMap(\.id))
        let channels = form.values("channel").compactMap { Int64($0) }.filter(known.contains)
        let parameters = [
            "name": name, "events": events.map(\.rawValue).joined(separator: ","), "namePattern": pattern, "label": label,
            "channels": channels.map(String.init).joined(separator: ","),
            "restartCount": String(restartCount), "restartMinutes": String(restartMinutes),
        ]
        var problem: String?
        if name.isEmpty || name.count > 100 { problem = "Give the rule a name (at most 100 characters)." }
        if events.isEmpty { problem = "Choose at least one event." }
        if channels.isEmpty { problem = "Choose at least one channel." }
        if label.hasPrefix("=") || label.count > 500 { problem = "A label is key or key=value, the key not empty." }
        if !(1...1000).contains(restartCount) || !(1...1440).contains(restartMinutes) {
            problem = "A restart loop is 1 to 1000 restarts within 1 to 1440 minutes."
        }
        if !pattern.isEmpty {
            do {
                _ = try LinearRegex(pattern)
            } catch {
                problem = "The name pattern: \(error.description)"
            }
        }
        if let problem {
            return await audit.refuseInput(context: context, targetType: "alertRule", targetName: name, parameters: parameters, message: problem, back: "/alerts")
        }
        let database = self.database
        let watcher = self.watcher
        let actor = context.user.username
        return await audit.perform(context: context, targetType: "alertRule", targetName: name, parameters: parameters, back: "/alerts") {
            _ = try await database.saveAlertRule(
                AlertRule(
                    name: name, events: events, namePattern: pattern, label: label, channels: channels, createdBy: actor,
                    restartCount: restartCount, restartMinutes: restartMinutes
                )
            )
            await watcher.reloadRules()
            return "Saved the rule \(name)."
        }
    }

    @Sendable func removeRule(_ request: Request, context: SignedInContext) async throws -> Response {
        let raw = try context.parameters.require("id")
        guard let id = Int64(raw), let rule = try await database.alertRules().first(where: { $0.id == id }) else {
            return await audit.refuseInput(context: context, targetType: "alertRule", targetId: String(raw.prefix(32)), message: "No such rule.", back: "/alerts")
        }
        let database = self.database
        let watcher = self.watcher
        return await audit.perform(context: context, targetType: "alertRule", targetId: raw, targetName: rule.name, back: "/alerts") {
            try await database.deleteAlertRule(id: id)
            await watcher.reloadRules()
            return "Removed the rule \(rule.name)."
        }
    }
}
