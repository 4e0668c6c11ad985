import Benchmark
import Journal
import Workloads
#if canImport(Glibc)
import Glibc
#endif

// Journal throughput with 48-byte order-like records (see OrderLikeRecords): append with each
// durability policy (64 KiB blocks, group commit), and read + verify + decompress.
// Each iteration appends `recordsPerIteration` records to a fresh journal under /tmp.

let recordsPerIteration = 1_000_000
let readDirectory = "/tmp/journal-bench-read"

/// A fresh, empty directory for one iteration.
func scratchDirectory(_ label: String) -> String {
    var template = Array("/tmp/journal-bench-\(label)-XXXXXX".utf8CString)
    _ = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    return String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
}

func removeDirectory(_ path: String) {
    precondition(path.hasPrefix("/tmp/journal-bench-"), "refusing to remove \(path)")
    _ = system("rm -rf '\(path)'")
}

/// The records, generated before measuring so that only the journal is timed.
func makeRecords(_ count: Int, seed: UInt64) -> ([UInt8], [Int64]) {
    var stream = OrderLikeRecords(seed: seed)
    var bytes: [UInt8] = []
    bytes.reserveCapacity(count * OrderLikeRecords.recordBytes)
    var times: [Int64] = []
    times.reserveCapacity(count)
    for _ in 0..<count {
        bytes += stream.next()
        times.append(stream.timestampNs)
    }
    return (bytes, times)
}

/// Appends every record, flushing after each `batch` as a sequencer's group commit does.
func appendAll(_ writer: JournalWriter, _ records: ([UInt8], [Int64]), batch: Int) throws {
    let size = OrderLikeRecords.recordBytes
    try records.0.withUnsafeBytes { all in
        for i in 0..<records.1.count {
            let record = UnsafeRawBufferPointer(rebasing: all[(i * size)..<((i + 1) * size)])
            try writer.append(record, timestampNs: records.1[i])
            if (i + 1) % batch == 0 { try writer.flush() }
        }
    }
    try writer.flush()
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .peakMemoryResident],
        scalingFactor: .one,
        maxDuration: .seconds(20),
        maxIterations: 10
    )
    let records = makeRecords(recordsPerIteration, seed: 42)

    for (name, durability) in [("none", Durability.none), ("always", Durability.always)] {
        Benchmark("Append 1M 48-byte records, fsync \(name), 64 KiB blocks") { benchmark in
            for _ in benchmark.scaledIterations {
                let directory = scratchDirectory(name)
                defer { removeDirectory(directory) }
                let writer = try JournalWriter(directory: directory,
                                               options: JournalOptions(durability: durability))
                benchmark.startMeasurement()
                // Group commit: flush whatever has queued, here 2,048 records (about 1.5
                // blocks), so `always` syncs once per block or batch.
                try appendAll(writer, records, batch: 2_048)
                try writer.close()
                benchmark.stopMeasurement()
            }
        }
    }

    Benchmark("Read + verify (CRC, SHA-256 chain) + decompress 1M 48-byte records") { benchmark in
        for _ in benchmark.scaledIterations {
            let reader = try JournalReader(directory: readDirectory)
            var sum: UInt64 = 0
            while try reader.next({ sum &+= UInt64($0.bytes.count) }) != nil {}
            blackHole(sum)
        }
    } setup: {
        removeDirectory(readDirectory)
        let writer = try JournalWriter(directory: readDirectory,
                                       options: JournalOptions(durability: .none))
        try appendAll(writer, records, batch: 2_048)
        try writer.close()
    } teardown: {
        removeDirectory(readDirectory)
    }
}
