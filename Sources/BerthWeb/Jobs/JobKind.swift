import BerthStore

/// What a job does. The kind decides who may see a job (those who may start one like it), and the action its end
/// row is recorded under.
enum JobKind: String, Sendable, CaseIterable {
    case imagePull = "image.pull"
    /// Asks the registries whether the images running containers use have newer ones.
    case imageUpdateCheck = "image.update-check"
    /// Pulls a container's image again and makes the container anew from it, same configuration.
    case containerRecreate = "container.recreate"
    case imagePrune = "image.prune"
    case containerCommit = "container.commit"
    /// Brings a compose project's containers to a saved version of its files.
    case projectDeploy = "project.deploy"
    /// A deploy with one service's scale set for it.
    case projectScale = "project.scale"
    /// Pulls a project's images again.
    case projectPull = "project.pull"

    /// Who may watch such a job: those who may start one.
    var permission: Permission {
        switch self {
        case .imagePull, .imageUpdateCheck, .projectDeploy, .projectScale, .projectPull: .operateContainers
        case .containerRecreate, .imagePrune, .containerCommit: .administer
        }
    }

    var action: AuditAction {
        switch self {
        case .imagePull: .imagePull
        case .imageUpdateCheck: .imageUpdateCheck
        case .containerRecreate: .containerRecreate
        case .imagePrune: .imagePrune
        case .containerCommit: .containerCommit
        case .projectDeploy: .projectDeploy
        case .projectScale: .projectScale
        case .projectPull: .projectPull
        }
    }

    /// What the list calls it.
    var label: String {
        switch self {
        case .imagePull: "pull"
        case .imageUpdateCheck: "update check"
        case .containerRecreate: "pull and recreate"
        case .imagePrune: "prune"
        case .containerCommit: "commit"
        case .projectDeploy: "deploy"
        case .projectScale: "scale"
        case .projectPull: "pull images"
        }
    }
}
