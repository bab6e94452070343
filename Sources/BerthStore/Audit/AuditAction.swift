/// Every action the audit trail records, by the name its rows are stored under. A route declares its action where it
/// is registered (`Routes`), its handler reads it from the request context, and the audit page offers this list as its
/// action filter: a new action is a new case here, never a string typed in a handler.
public enum AuditAction: String, CaseIterable, Sendable, Codable {
    // Signing in and out, and what the central access check refuses.
    case login
    case loginLockout = "login.lockout"
    case logout
    case sessionEnd = "session.end"
    case accessDenied = "access.denied"
    case accessCSRF = "access.csrf"
    case accessUndeclaredRoute = "access.undeclared-route"

    // Containers.
    case containerStart = "container.start"
    case containerStop = "container.stop"
    case containerRestart = "container.restart"
    case containerKill = "container.kill"
    case containerPause = "container.pause"
    case containerUnpause = "container.unpause"
    case containerRename = "container.rename"
    case containerRemove = "container.remove"
    /// A refused bulk request; each container's action in it is recorded under that action.
    case containerBulk = "container.bulk"
    case containerRun = "container.run"
    case containerCommit = "container.commit"
    /// Pull and recreate: the container made anew from its image's newest version, same configuration.
    case containerRecreate = "container.recreate"
    case containerInspect = "container.inspect"
    case containerEnvironmentView = "container.env.view"
    case containerLogs = "container.logs"
    case containerLogsDownload = "container.logs.download"
    /// A console into a container: one row when it opens (or is refused), one when it closes, with its recording.
    case consoleOpen = "console.open"
    case consoleClose = "console.close"
    /// A recording read: played in the browser or downloaded as `.cast`.
    case consoleReplay = "console.replay"

    // Images, networks, volumes, the engine.
    case imagePull = "image.pull"
    case imageTag = "image.tag"
    case imageRemove = "image.remove"
    case imagePrune = "image.prune"
    /// A check of the registries for newer images than running containers use (on demand or scheduled).
    case imageUpdateCheck = "image.update-check"
    /// Saved registry logins: saved (or replaced), removed, and each use of one by a pull.
    case registryLoginSave = "registry.login.save"
    case registryLoginRemove = "registry.login.remove"
    case registryLoginUse = "registry.login.use"
    case networkCreate = "network.create"
    case networkRemove = "network.remove"
    case networkConnect = "network.connect"
    case networkDisconnect = "network.disconnect"
    case volumeCreate = "volume.create"
    case volumeRemove = "volume.remove"
    case volumePrune = "volume.prune"
    case systemPrune = "system.prune"

    // Swarm.
    case nodeAvailability = "node.availability"
    case serviceCreate = "service.create"
    case serviceScale = "service.scale"
    case serviceRemove = "service.remove"
    case serviceLogs = "service.logs"

    // Dashboards and their share links.
    case dashboardCreate = "dashboard.create"
    case dashboardUpdate = "dashboard.update"
    case dashboardDelete = "dashboard.delete"
    /// A change refused because only the owner and admins change a dashboard, on a route that names no action.
    case dashboardEdit = "dashboard.edit"
    case dashboardView = "dashboard.view"
    case dashboardStream = "dashboard.stream"
    case dashboardContainer = "dashboard.container"
    case dashboardStats = "dashboard.stats"
    case dashboardLogs = "dashboard.logs"
    case dashboardLinkCreate = "dashboard.link.create"
    case dashboardLinkRevoke = "dashboard.link.revoke"
    case dashboardLinkUse = "dashboard.link.use"
    case dashboardLinkDenied = "dashboard.link.denied"

    // Jobs: work that runs on the server apart from any page. Each has a start row and, when it ends, a row of its
    // own action (`image.pull`, …) naming the job.
    case jobStart = "job.start"
    case jobCancel = "job.cancel"

    // Alerts: channels, rules, and test messages (deliveries are in each channel's log).
    case alertChannelSave = "alert.channel.save"
    case alertChannelRemove = "alert.channel.remove"
    case alertRuleSave = "alert.rule.save"
    case alertRuleRemove = "alert.rule.remove"
    case alertTest = "alert.test"

    // Engines added in the browser (their keys never in a row).
    case engineAdd = "engine.add"
    case engineEdit = "engine.edit"
    case engineRemove = "engine.remove"

    // Compose projects.
    case projectStart = "project.start"
    case projectStop = "project.stop"
    case projectRestart = "project.restart"
    case projectDown = "project.down"
    /// A new version of a project's files (created, edited or imported).
    case projectSave = "project.save"
    case projectImport = "project.import"
    /// Berth forgets a project (its versions and folder) that no longer runs.
    case projectRemove = "project.remove"
    /// A version deployed (also a rollback: an earlier version deployed again), as a job.
    case projectDeploy = "project.deploy"
    /// One service's scale set, deployed with the version it runs.
    case projectScale = "project.scale"
    case projectPull = "project.pull"

    // Settings and the trail itself.
    case settingsUpdate = "settings.update"
    case auditExport = "audit.export"
}
