import ArgumentParser
import Codec
import Foundation
import Journal
import Matching
import Node
#if canImport(Glibc)
import Glibc
#endif

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the journal's commands as JSON Lines, each with its seq and ts.")

    @OptionGroup var common: JournalOptionsGroup

    @Option(name: .customLong("from-seq"), help: "Start at this sequence.") var fromSeq: UInt64?
    @Option(name: .customLong("to-seq"), help: "Stop after this sequence.") var toSeq: UInt64?

    func run() throws {
        let directory = try common.existingJournal()
        let reader = try runJournal { () throws(JournalError) in try JournalReader(directory: directory) }
        if let fromSeq { try runJournal { () throws(JournalError) in try reader.seek(to: fromSeq) } }
        var count = 0
        var failure: String?
        var decoder = CommandDecoder()
        while let record = try runJournal({ () throws(JournalError) in try reader.nextView() }) {
            if let toSeq, record.sequence > toSeq { break }
            do {
                let command = try decoder.decode(record.bytes)
                print(CommandJSON.encode(command, seq: record.sequence, timestampNs: record.timestampNs))
                count += 1
            } catch {
                failure = "sequence \(record.sequence): undecodable command record: \(error)"
                break
            }
        }
        if let failure { throw fail(failure) }
        if common.json { print("{\"commands\":\(count)}") }
    }
}
