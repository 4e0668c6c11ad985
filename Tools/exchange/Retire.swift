import ArgumentParser
import Codec
import Foundation
import Journal
import Matching
import Node
#if canImport(Glibc)
import Glibc
#endif

struct Retire: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove (or move) the segments that hold only records below a sequence.")

    @OptionGroup var common: JournalOptionsGroup

    @Option(name: .customLong("below-seq"), help: "Keep every segment holding this sequence or later.")
    var belowSeq: UInt64

    @Option(help: "Move retired segments here instead of deleting them.")
    var archive: String?

    func run() throws {
        _ = try common.existingJournal()
        let common = self.common, belowSeq = self.belowSeq, archive = self.archive
        try runJournal { () throws(JournalError) in
            let writer = try JournalWriter(directory: common.journal)
            let removed = try writer.removeSegments(below: belowSeq, movingTo: archive)
            try writer.close()
            var line = JSONLine()
            line.add("segments_removed", removed.count)
            line.add("first_seq", writer.segments.first?.firstSequence ?? 0)
            if common.json {
                print(line.text)
            } else {
                print("\(archive == nil ? "removed" : "moved") \(removed.count) segments: \(removed.map(\.name).joined(separator: ", "))")
            }
        }
    }
}
