import Foundation

/// What `run.mustache` shows: the form, filled again after an error.
struct RunPage: Sendable {
    let title = "Run a container"
    let values: Values
    let message: String?
    let isAdmin: Bool

    /// - Parameter enginePath: what the engine's links start with (the images page of the pull).
    init(values: Values, message: String?, isAdmin: Bool, missingImage: String? = nil, enginePath: String = "") {
        self.values = values
        self.message = message
        self.isAdmin = isAdmin
        self.missingImage = missingImage
        pullLink = missingImage.map { enginePath + "/images?reference=" + ($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "") }
    }
    /// The image the engine does not have, offered for a pull, and the images page with it filled in.
    let missingImage: String?
    let pullLink: String?

    struct Values: Sendable {
        var image = ""
        var name = ""
        var command = ""
        var commandPerLine = false
        var env = ""
        var labels = ""
        var ports = ""
        var mounts = ""
        var network = "none"
        var restart = "no"
        var autoRemove = false
        var workingDir = ""
        var user = ""
        var tty = false
        var detached = false
        var privileged = false
        var capAdd = ""
        var hostPID = false

        init(image: String = "") {
            self.image = image
        }

        init(_ form: FormFields) {
            image = form["image"] ?? ""
            name = form["name"] ?? ""
            command = form["command"] ?? ""
            commandPerLine = form["commandMode"] == "lines"
            env = form["env"] ?? ""
            labels = form["labels"] ?? ""
            ports = form["ports"] ?? ""
            mounts = form["mounts"] ?? ""
            network = form["network"] ?? "none"
            restart = form["restart"] ?? "no"
            autoRemove = form.isChecked("autoRemove")
            workingDir = form["workingDir"] ?? ""
            user = form["user"] ?? ""
            tty = form.isChecked("tty")
            detached = form["mode"] == "detached"
            privileged = form.isChecked("privileged")
            capAdd = form["capAdd"] ?? ""
            hostPID = form.isChecked("hostPID")
        }
    }
}

/// What `run-result.mustache` shows after a foreground run.
struct RunResultPage: Sendable {
    let title: String
    let id: String
    let name: String
    let image: String
    let command: String
    let exitCode: Int?
    let stillRunning: Bool
    let waitError: String?
    let stdout: String
    let stderr: String
    let tty: Bool
    var note: String?
    let removed: Bool

    struct Output: Sendable {
        var stdout = ""
        var stderr = ""
        var note: String?
    }
}
