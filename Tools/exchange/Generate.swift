import ArgumentParser
import Codec
import Foundation
import Journal
import _Posix
import Matching
import Node
import Workloads
#if canImport(Glibc)
import Glibc
#endif

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append a seeded stream of 48-byte order-like records (a journal workload).")

    @OptionGroup var common: JournalOptionsGroup

    @Option(help: "How many records to append.")
    var records: Int = 1_000_000

    @Option(help: "Seed of the record stream.")
    var seed: UInt64 = 1

    @Option(help: fsyncHelp) var fsync: Durability = .always

    @Option(help: "Records per group commit (a flush after each batch).")
    var batch: Int = 1_000

    @Option(help: "Segment size in KiB.")
    var segmentKib: Int = 65_536

    @Option(help: "Block size in KiB.")
    var blockKib: Int = 64

    func run() throws {
        let durability = fsync
        guard records >= 0, batch > 0 else { throw fail("--records must be ≥ 0 and --batch > 0") }
        let options = JournalOptions(segmentBytes: segmentKib << 10, blockBytesMax: blockKib << 10,
                                     recordBytesMax: 4 << 10,
                                     durability: durability, recordKind: .opaque)
        let common = self.common, records = self.records, seed = self.seed, batch = self.batch
        try runJournal { () throws(JournalError) in
            let writer = try JournalWriter(directory: common.journal, options: options)
            let recovery = writer.recovery
            if !common.json && recovery.droppedAnything {
                print("recovered: cut a torn tail of \(recovery.bytesDropped) bytes at \(recovery.tornSegment!) offset \(recovery.tornOffset!)")
            }
            var stream = OrderLikeRecords(seed: seed)
            let first = writer.lastSequence + 1
            let start = monotonicNs()
            for i in 0..<records {
                try writer.append(stream.next(), timestampNs: stream.timestampNs)
                if (i + 1) % batch == 0 { try writer.flush() }
            }
            try writer.flush()
            let durable = writer.durableSequence
            try writer.close()
            let seconds = Double(monotonicNs() - start) / 1e9
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
