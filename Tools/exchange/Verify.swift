import ArgumentParser
import Codec
import Foundation
import Journal
import Matching
import Node
#if canImport(Glibc)
import Glibc
#endif

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every checksum and the hash chain; name the first bad block.")

    @OptionGroup var common: JournalOptionsGroup

    func run() throws {
        let directory = try common.existingJournal()
        let report = try runJournal { () throws(JournalError) in try JournalVerifier.verify(directory: directory) }
        var line = JSONLine()
        line.add("ok", report.ok)
        line.add("first_seq", report.firstSequence)
        line.add("last_seq", report.lastSequence)
        line.add("segments", report.segments)
        line.add("blocks", report.blocks)
        line.add("records", report.records)
        line.add("raw_bytes", report.rawBytes)
        line.add("chain_head", report.chainHead.hex)
        if let torn = report.tornTail {
            var tail = JSONLine()
            tail.add("segment", torn.segment)
            tail.add("offset", torn.offset)
            tail.add("bytes", torn.bytes)
            line.addRaw("torn_tail", tail.text)
        } else {
            line.addNull("torn_tail")
        }
        if let mark = report.durableMark { line.add("durable_mark", mark) } else { line.addNull("durable_mark") }
        if let error = report.error { line.add("error", error.description) } else { line.addNull("error") }
        if common.json {
            print(line.text)
        } else {
            let range = report.records == 0 ? "no records" : "records \(report.firstSequence)...\(report.lastSequence)"
            if report.ok {
                print("ok: \(report.segments) segments, \(report.blocks) blocks, \(range)")
                print("chain head \(report.chainHead.hex)")
            } else {
                print("CORRUPT: before the damage, \(report.blocks) blocks in \(report.segments) segments checked out, \(range)")
                print("chain head of the last good block \(report.chainHead.hex)")
            }
            if let mark = report.durableMark { print("durable mark: synced through seq \(mark)") }
            if let torn = report.tornTail {
                print("torn tail: \(torn.bytes) bytes at \(torn.segment) offset \(torn.offset) (the next writer cuts it off)")
            }
        }
        if let error = report.error { throw fail(error.description) }
    }
}
