import ArgumentParser
import Codec
import Foundation
import Journal
import Matching
import Node
#if canImport(Glibc)
import Glibc
#endif

struct SnapshotVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every snapshot: header CRC, body SHA-256, decompression, state digest, and that it restores.")

    @OptionGroup var common: DataOptions

    func run() throws {
        let data = try common.existingData()
        let files = try runJournal { () throws(JournalError) in try SnapshotStore.list(data.snapshots) }
        var bad = 0
        for file in files {
            var problem: String?
            var header: SnapshotHeader?
            do {
                let (h, body) = try SnapshotStore.read(file.path)
                header = h
                let engine = try MatchingEngine(canonicalState: body)
                if engine.canonicalState() != body { problem = "restores to a different state" }
            } catch {
                problem = "\(error)"
            }
            if problem != nil { bad += 1 }
            if common.json {
                print(snapshotJSON(file, header, error: problem))
            } else {
                print("\(file.name): \(problem.map { "BAD: \($0)" } ?? "ok (seq \(header!.sequence), digest \(header!.stateDigest.hex))")")
            }
        }
        if common.json { print("{\"ok\":\(bad == 0),\"snapshots\":\(files.count),\"bad\":\(bad)}") }
        if bad > 0 { throw fail("\(bad) of \(files.count) snapshots failed verification") }
    }
}
