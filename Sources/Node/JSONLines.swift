import Codec
import Journal
import Matching
import _Posix
#if canImport(Glibc)
import Glibc
#endif

// The node's JSON Lines edge: command lines in from a file descriptor, event lines out to one
// (`exchange node --stdin`, and its benchmark).

/// Reads INTERCHANGE command lines from a file descriptor and submits them to a node, in
/// batches of what is already read (one group commit for all of them); a line that is the last
/// one available goes alone, at once. A line that is not a JSON object, or too large for a
/// journal record, is handed to `skip` with its number and why, and nothing is journaled for
/// it. Stops at the end of input, when `stop()` says so (checked on every line and when a read
/// is interrupted), when the node stops or when `sink` is broken.
/// - Returns: the lines read, and how many were skipped.
public func feedCommandLines(from fd: Int32, into node: Node, sink: EventLinesSink?,
                             stop: () -> Bool, skip: (_ line: Int, _ why: String) -> Void)
    -> (lines: Int, skipped: Int) {
    let recordBytesMax = JournalOptions().recordBytesMax
    var reader = LineReader(fd: fd, lineBytesMax: recordBytesMax)
    defer { reader.deallocate() }
    var decoder = CommandJSON.Reader()
    // The lines already read are submitted together (one lock, one group commit for all of
    // them), moved into the queue; a line that is the last one available goes alone, at once.
    // Tags are line numbers: blank and skipped lines leave gaps, so a batch ends at one.
    var batch: [Command] = []
    batch.reserveCapacity(1_024)
    var firstTag: UInt64 = 0
    func submitBatch() -> Bool {
        guard !batch.isEmpty else { return true }
        return node.submit(taking: &batch, firstTag: firstTag, waitingForRoom: true) == .queued
    }
    var lines = 0, skipped = 0
    reading: while let item = reader.next(interrupted: stop) {
        if stop() || sink?.broken == true { break }
        lines += 1
        switch item {
        case let .tooLong(bytes):
            skipped += 1
            skip(lines, "a line of \(bytes) bytes, longer than a journal record may be (\(recordBytesMax))")
        case let .line(line) where CommandJSON.isBlank(line):
            break
        case let .line(line):
            guard let command = decoder.decodeCommand(line) else {
                skipped += 1
                skip(lines, "not a JSON object")
                break
            }
            // A record is at most about twice its line (an invalid command keeps its text and
            // repeats its cmd and client id): only a line near the limit is measured.
            if line.count * 2 + 64 > recordBytesMax {
                var record: [UInt8] = []
                CommandCodec.encode(command, into: &record)
                if record.count > recordBytesMax {
                    skipped += 1
                    skip(lines, "its record would take \(record.count) bytes, over the journal's limit of \(recordBytesMax)")
                    break
                }
            }
            if !batch.isEmpty && UInt64(lines) != firstTag + UInt64(batch.count) {
                guard submitBatch() else { break reading }
            }
            if batch.isEmpty { firstTag = UInt64(lines) }
            batch.append(consume command)
        }
        if batch.count >= 1_024 || !reader.hasBufferedLine() {
            guard submitBatch() else { break reading }
        }
    }
    _ = submitBatch()
    return (lines, skipped)
}


/// Writes each acknowledged command's events to a file descriptor as INTERCHANGE event lines,
/// flushed whenever the engine has caught up (a line written is an acknowledgement). Called on
/// the engine thread only.
public final class EventLinesSink: NodeSink, @unchecked Sendable {
    private let fd: Int32
    // Touched by the engine thread alone: no dynamic exclusivity check on every event.
    @exclusivity(unchecked) private var buffer = ByteOutput(capacity: 1 << 17)
    /// Commands acknowledged so far.
    public private(set) var acknowledged = 0
    /// Set when the descriptor stopped taking bytes (a closed pipe): nothing more is written.
    public private(set) var broken = false

    public init(fd: Int32) { self.fd = fd }

    public func acknowledged(tag: UInt64, sequence: UInt64, timestampNs: Int64, command: Command, events: EventList,
                      engine: MatchingEngine) {
        for event in events {
            EventJSON.render(event, of: command, seq: sequence, engine: engine, into: &buffer)
            buffer.append(0x0A)
        }
        acknowledged += 1
        if buffer.count >= 1 << 16 { flush() }
    }

    public func failed(tag: UInt64, error: NodeError) {
        // Nothing to write: the node stops, and `stop()` reports the failure in one line.
    }

    public func caughtUp(to sequence: UInt64) { flush() }

    private func flush() {
        if buffer.count > 0 && !broken { broken = !buffer.withBytes { writeAll(fd, $0) } }
        buffer.removeAll()
    }
}


