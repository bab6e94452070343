import BerthStore

/// What a job does. The kind decides who may see a job (those who may start one like it), and the action its end
/// row is recorded under.
enum JobKind: String, Sendable, CaseIterable {
    case imagePull = "image.pull"

    /// Who may watch such a job: those who may start one.
    var permission: Permission {
        switch self {
        case .imagePull: .operateContainers
        }
    }

    var action: AuditAction {
        switch self {
        case .imagePull: .imagePull
        }
    }

    /// What the list calls it.
    var label: String {
        switch self {
        case .imagePull: "pull"
        }
    }
}
