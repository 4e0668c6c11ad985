import ArgumentParser
import Codec
import Foundation
import Journal
import Matching
import Node
#if canImport(Glibc)
import Glibc
#endif

struct SnapshotList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "The snapshots, newest first, with what their headers say.")

    @OptionGroup var common: DataOptions

    func run() throws {
        let data = try common.existingData()
        let files = try runJournal { () throws(JournalError) in try SnapshotStore.list(data.snapshots) }
        for file in files {
            let header = try? SnapshotStore.header(file.path)
            if common.json {
                print(snapshotJSON(file, header, error: header == nil ? "unreadable header" : nil))
            } else if let header {
                print("\(file.name)  seq \(header.sequence)  ts \(header.timestampNs)  \(header.storedBytes) bytes  digest \(header.stateDigest.hex)")
            } else {
                print("\(file.name)  unreadable header")
            }
        }
        if common.json { print("{\"snapshots\":\(files.count)}") }
    }
}
