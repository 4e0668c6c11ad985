import ArgumentParser
import Codec
import Foundation
import Journal
import Matching
import Node
#if canImport(Glibc)
import Glibc
#endif

// MARK: - exchange snapshot

struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Create, list and verify snapshots of a data directory.",
        subcommands: [SnapshotCreate.self, SnapshotList.self, SnapshotVerify.self])
}

func snapshotJSON(_ file: SnapshotFile, _ header: SnapshotHeader?, error: String? = nil) -> String {
    var o = JSONLine()
    o.add("file", file.name)
    o.add("seq", header?.sequence ?? file.sequence)
    if let header {
        o.add("ts", header.timestampNs)
        o.add("created_ns", header.createdNs)
        o.add("state_digest", header.stateDigest.hex)
        o.add("raw_bytes", header.rawBytes)
        o.add("stored_bytes", header.storedBytes)
    }
    o.add("ok", error == nil)
    if let error { o.add("error", error) }
    return o.text
}
