import EngineAPI
import Foundation
import Hummingbird

/// Image pages. For now the page of one image, where a commit leads; the list, pulls and removal come with the
/// images issue.
struct ImagesController: Sendable {
    let engine: EngineClient
    let views: PageRenderer

    func addRoutes(to routes: Routes) {
        routes.get("/images/{id}", .viewContainers, use: show)
    }

    @Sendable func show(_ request: Request, context: BerthRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        do {
            let image = try await engine.inspectImage(id)
            return try views.page("image", ImagePage(image, preferences: context.preferences), context: context)
        } catch let error as EngineError {
            throw error.pageError(missing: "No such image: \(id).")
        }
    }
}

/// What `image.mustache` shows.
struct ImagePage: Sendable {
    let title: String
    let id: String
    let tags: [String]
    let created: DisplayTime?
    let author: String?
    let comment: String?
    let size: String
    let command: String
    let labels: [ContainerRow.Label]

    init(_ image: ImageInspect, preferences: UserPreferences) {
        id = image.id
        tags = image.repoTags ?? []
        title = tags.first ?? String(image.id.prefix(19))
        created = DisplayTime(engineTime: image.created, preferences: preferences)
        author = image.author.flatMap { $0.isEmpty ? nil : $0 }
        comment = image.comment.flatMap { $0.isEmpty ? nil : $0 }
        size = ByteCountFormatter.string(fromByteCount: image.size ?? 0, countStyle: .binary)
        command = ((image.config?.entrypoint ?? []) + (image.config?.cmd ?? [])).joined(separator: " ")
        labels = (image.config?.labels ?? [:]).sorted { $0.key < $1.key }.map { ContainerRow.Label(key: $0.key, value: $0.value) }
    }
}
