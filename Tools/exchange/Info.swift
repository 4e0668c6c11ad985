import ArgumentParser
import Codec
import Foundation
import Journal
import Matching
import Node
#if canImport(Glibc)
import Glibc
#endif

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Segments, sequence and time range, bytes raw and compressed.")

    @OptionGroup var common: JournalOptionsGroup

    func run() throws {
        let directory = try common.existingJournal()
        let info = try runJournal { () throws(JournalError) in try JournalInfo.read(directory: directory) }
        var line = JSONLine()
        line.add("segments", info.segments)
        line.add("first_seq", info.firstSequence)
        line.add("last_seq", info.lastSequence)
        line.add("commands", info.records)
        line.add("record_kind", (JournalDirectory.recordKind(directory) ?? .unspecified).description)
        line.add("blocks", info.blocks)
        line.add("compressed_blocks", info.compressedBlocks)
        if let first = info.firstTimestampNs, let last = info.lastTimestampNs {
            line.add("first_ts", first)
            line.add("last_ts", last)
        } else {
            line.addNull("first_ts")
            line.addNull("last_ts")
        }
        line.add("raw_bytes", info.rawBytes)
        line.add("stored_bytes", info.storedBytes)
        line.add("allocated_bytes", info.allocatedBytes)
        line.add("bytes_per_command", info.bytesPerRecord, decimals: 3)
        line.add("compression_ratio", info.compressionRatio, decimals: 3)
        if common.json {
            print(line.text)
        } else {
            print("segments: \(info.segments) (\(info.allocatedBytes) bytes allocated)")
            print("sequences: \(info.firstSequence)...\(info.lastSequence) (\(info.records) commands in \(info.blocks) blocks, \(info.compressedBlocks) compressed)")
            if let first = info.firstTimestampNs, let last = info.lastTimestampNs {
                print("time: \(first)...\(last) ns")
            }
            print("bytes: \(info.rawBytes) raw, \(info.storedBytes) stored, \(format(info.bytesPerRecord, decimals: 2)) per command, ratio \(format(info.compressionRatio, decimals: 2))")
        }
    }
}
