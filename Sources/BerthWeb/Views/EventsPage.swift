import EngineAPI
import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers

struct EventsPage: Sendable {
    let title: String
}
