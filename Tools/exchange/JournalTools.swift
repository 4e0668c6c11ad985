import ArgumentParser
import Journal
import _JournalTesting
#if canImport(Glibc)
import Glibc
#endif

func monotonicSeconds() -> Double {
    Double(monotonicNs()) / 1e9
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append a seeded stream of 48-byte order-like records (a journal workload).")

    @OptionGroup var common: JournalOptionsGroup

    @Option(help: "How many records to append.")
    var records: Int = 1_000_000

    @Option(help: "Seed of the record stream.")
    var seed: UInt64 = 1

    @Option(help: "Durability: always, none or interval:MS.")
    var fsync: String = "always"

    @Option(help: "Records per group commit (a flush after each batch).")
    var batch: Int = 1_000

    @Option(help: "Segment size in KiB.")
    var segmentKib: Int = 65_536

    @Option(help: "Block size in KiB.")
    var blockKib: Int = 64

    func run() throws {
        guard let durability = Durability(parsing: fsync) else {
            throw fail("--fsync must be always, none or interval:MS, not \(fsync)")
        }
        guard records >= 0, batch > 0 else { throw fail("--records must be ≥ 0 and --batch > 0") }
        let options = JournalOptions(segmentBytes: segmentKib << 10, blockBytesMax: blockKib << 10,
                                     recordBytesMax: 4 << 10,
                                     durability: durability)
        let common = self.common, records = self.records, seed = self.seed, batch = self.batch
        try runJournal { () throws(JournalError) in
            let writer = try JournalWriter(directory: common.journal, options: options)
            let recovery = writer.recovery
            if !common.json && recovery.droppedAnything {
                print("recovered: cut a torn tail of \(recovery.bytesDropped) bytes at \(recovery.tornSegment!) offset \(recovery.tornOffset!)")
            }
            var stream = OrderLikeRecords(seed: seed)
            let first = writer.lastSequence + 1
            let start = monotonicSeconds()
            for i in 0..<records {
                try writer.append(stream.next(), timestampNs: stream.timestampNs)
                if (i + 1) % batch == 0 { try writer.flush() }
            }
            try writer.flush()
            let durable = writer.durableSequence
            try writer.close()
            let seconds = monotonicSeconds() - start
            let rate = seconds > 0 ? Double(records) / seconds : 0
            var line = JSONLine()
            line.add("first_seq", records > 0 ? first : 0)
            line.add("last_seq", writer.lastSequence)
            line.add("records", records)
            line.add("durable_seq", durable)
            line.add("seconds", seconds, decimals: 6)
            line.add("records_per_second", rate, decimals: 0)
            line.add("chain_head", writer.chainHead.hex)
            line.add("torn_bytes_dropped", recovery.bytesDropped)
            if common.json {
                print(line.text)
            } else {
                print("appended \(records) records (seq \(first)...\(writer.lastSequence)) in \(format(seconds, decimals: 3)) s: \(format(rate, decimals: 0)) records/s, fsync \(durability)")
                print("chain head \(writer.chainHead.hex)")
            }
        }
    }
}

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
        if let error = report.error { line.add("error", error.description) } else { line.addNull("error") }
        if common.json {
            print(line.text)
        } else {
            print("\(report.ok ? "ok" : "CORRUPT"): \(report.segments) segments, \(report.blocks) blocks, records \(report.firstSequence)...\(report.lastSequence)")
            print("chain head \(report.chainHead.hex)")
            if let torn = report.tornTail {
                print("torn tail: \(torn.bytes) bytes at \(torn.segment) offset \(torn.offset) (the next writer cuts it off)")
            }
        }
        if let error = report.error { throw fail(error.description) }
    }
}

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
