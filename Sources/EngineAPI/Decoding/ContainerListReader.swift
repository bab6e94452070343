import NIOCore

/// Reads the answer of `GET /containers/json` in one pass, taking the fields ``ContainerSummary`` has and skipping
/// the rest (host config, network details, mount propagation, …) without building them.
///
/// With hundreds of containers this is most of what the list page costs beyond the engine's own time; the result is
/// the same as `JSONDecoder`'s (a test compares the two on real engine answers).
enum ContainerListReader {
    static func read(_ body: ByteBuffer) throws -> [ContainerSummary] {
        try body.withUnsafeReadableBytes { bytes in
            var reader = JSONReader(bytes)
            var containers: [ContainerSummary] = []
            try reader.readArray { reader in
                containers.append(try summary(&reader))
            }
            try reader.finish()
            return containers
        }
    }

    private static func summary(_ reader: inout JSONReader) throws -> ContainerSummary {
        var id: String?
        var summary = ContainerSummary(id: "")
        try reader.readObject { reader, key in
            if key == "Id" {
                id = try reader.readString()
            } else if key == "Names" {
                summary.names = try reader.readStringArray()
            } else if key == "Image" {
                summary.image = try reader.readString()
            } else if key == "ImageID" {
                summary.imageID = try reader.readString()
            } else if key == "Command" {
                summary.command = try reader.readString()
            } else if key == "Created" {
                summary.created = try reader.readInt()
            } else if key == "Ports" {
                summary.ports = try reader.readOptionalArray { reader in try port(&reader) }
            } else if key == "Labels" {
                summary.labels = try reader.readStringMap()
            } else if key == "State" {
                summary.state = try reader.readString()
            } else if key == "Status" {
                summary.status = try reader.readString()
            } else if key == "Mounts" {
                summary.mounts = try reader.readOptionalArray { reader in try mount(&reader) }
            } else if key == "NetworkSettings" {
                summary.networkSettings = try networkSettings(&reader)
            }
        }
        guard let id else { throw JSONReader.Failure(offset: 0, reason: "a container without Id") }
        summary.id = id
        return summary
    }

    private static func port(_ reader: inout JSONReader) throws -> ContainerSummary.Port {
        var port = ContainerSummary.Port()
        try reader.readObject { reader, key in
            if key == "IP" {
                port.ip = try reader.readString()
            } else if key == "PrivatePort" {
                port.privatePort = try reader.readInt().map(Int.init)
            } else if key == "PublicPort" {
                port.publicPort = try reader.readInt().map(Int.init)
            } else if key == "Type" {
                port.type = try reader.readString()
            }
        }
        return port
    }

    private static func mount(_ reader: inout JSONReader) throws -> ContainerInspect.Mount {
        var mount = ContainerInspect.Mount()
        try reader.readObject { reader, key in
            if key == "Type" {
                mount.type = try reader.readString()
            } else if key == "Name" {
                mount.name = try reader.readString()
            } else if key == "Source" {
                mount.source = try reader.readString()
            } else if key == "Destination" {
                mount.destination = try reader.readString()
            } else if key == "RW" {
                mount.readWrite = try reader.readBool()
            }
        }
        return mount
    }

    private static func networkSettings(_ reader: inout JSONReader) throws -> ContainerSummary.SummaryNetworkSettings? {
        var settings: ContainerSummary.SummaryNetworkSettings?
        reader.skipWhitespace()
        if reader.peek() == UInt8(ascii: "n") {
            try reader.skipValue()
            return nil
        }
        settings = ContainerSummary.SummaryNetworkSettings()
        try reader.readObject { reader, key in
            guard key == "Networks" else { return }
            reader.skipWhitespace()
            if reader.peek() == UInt8(ascii: "n") {
                try reader.skipValue()
                return
            }
            var networks: [String: ContainerSummary.SummaryNetworkSettings.Endpoint] = [:]
            try reader.readObject { reader, name in
                var endpoint = ContainerSummary.SummaryNetworkSettings.Endpoint()
                try reader.readObject { reader, key in
                    if key == "IPAddress" { endpoint.ipAddress = try reader.readString() }
                }
                networks[name.string] = endpoint
            }
            settings?.networks = networks
        }
        return settings
    }
}
