import ArgumentParser
import Codec
import Foundation
import Journal
import Matching
import Node
#if canImport(Glibc)
import Glibc
import _Posix
#endif

/// stamped at or after `sinceNs` to `events`. Shows progress on a terminal unless `quiet`.
func replayJournal(_ directory: String, _ options: RebuildOptions = RebuildOptions(), sinceNs: Int64? = nil,
                   quiet: Bool = true, events: EventFile? = nil) throws -> StateRecovery {
    var options = options
    var sinceSeq: UInt64?
    if let sinceNs {
        // Seek by the blocks' times, then find the first command at or after `since`: the state
        // before it may come from a snapshot, the events from it on are printed.
        sinceSeq = try runJournal { () throws(JournalError) -> UInt64? in
            let reader = try JournalReader(directory: directory)
            try reader.seek(toTimestamp: sinceNs)
            while let record = try reader.nextView() {
                if record.timestampNs >= sinceNs { return record.sequence }
            }
            return nil
        } ?? UInt64.max
        options.snapshotBelow = sinceSeq
    }
    let progress = quiet ? nil : Progress(label: "replay", total: 0)
    do {
        let recovery = try Recovery.rebuild(journal: directory, options, progress: { reached, last in
            progress?.total = last
            progress?.show(reached)
        }) { replayer, command, record in
            guard let events, record.sequence >= (sinceSeq ?? 0) else { return }
            for event in replayer.buffer.events { events.write(event, of: command, seq: record.sequence, engine: replayer.engine) }
        }
        progress?.done()
        return recovery
    } catch {
        progress?.done()
        throw fail(error.description)
    }
}

/// A one-line progress bar on standard error, only when it is a terminal.
final class Progress {
    let label: String
    /// What 100% is (0: nothing to show yet).
    var total: UInt64
    let started = monotonicNs()
    private let visible = isatty(2) == 1

    init(label: String, total: UInt64) {
        self.label = label
        self.total = total
    }

    func show(_ at: UInt64) {
        guard visible, total > 0 else { return }
        let fraction = min(1, Double(at) / Double(total))
        let width = 30
        let filled = Int(fraction * Double(width))
        let seconds = Double(monotonicNs() - started) / 1e9
        let rate = seconds > 0 ? Double(at) / seconds : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        printPartial("\r\(label) [\(bar)] \(Int(fraction * 100))%  seq \(at)/\(total)  \(format(rate, decimals: 0))/s ")
    }

    func done() {
        guard visible, total > 0 else { return }
        printPartial("\r" + String(repeating: " ", count: 90) + "\r")
    }

    private func printPartial(_ text: String) { writeAll(2, Array(text.utf8)) }
}

/// Parses a time option: nanoseconds since the epoch, or ISO-8601 (`2026-11-26T10:00:00Z`,
/// fractions of a second and `±HH:MM` offsets allowed).
func parseTime(_ text: String) -> Int64? {
    if let ns = Int64(text) { return ns }
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    var date = formatter.date(from: text)
    if date == nil {
        formatter.formatOptions = [.withInternetDateTime]
        date = formatter.date(from: text)
    }
    guard let date else { return nil }
    // Whole seconds exactly, then the fraction (a Double holds microseconds at best).
    let seconds = date.timeIntervalSince1970.rounded(.down)
    let fraction = date.timeIntervalSince1970 - seconds
    return Int64(seconds) * 1_000_000_000 + Int64((fraction * 1e6).rounded()) * 1_000
}

/// Event lines to a file, rendered straight into a buffer that is written 64 KiB at a time.
final class EventFile {
    private let file: UnsafeMutablePointer<FILE>
    private var buffer = ByteOutput(capacity: 1 << 17)

    init(path: String) throws {
        guard let file = fopen(path, "w") else { throw fail("cannot write \(path): \(String(cString: strerror(errno)))") }
        self.file = file
    }

    func write(_ event: Event, of command: Command, seq: UInt64, engine: MatchingEngine) {
        EventJSON.render(event, of: command, seq: seq, engine: engine, into: &buffer)
        buffer.append(0x0A)
        if buffer.count >= 1 << 16 { drain() }
    }

    private func drain() {
        _ = buffer.withBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        buffer.removeAll()
    }

    func close() throws {
        drain()
        guard fclose(file) == 0 else { throw fail("writing events failed: \(String(cString: strerror(errno)))") }
    }
}

/// `DIR/snapshots` for a journal at `DIR/journal`.
func defaultSnapshots(forJournal journal: String) -> String {
    var parts = journal.split(separator: "/", omittingEmptySubsequences: false)
    while parts.count > 1 && parts.last == "" { parts.removeLast() }
    parts.removeLast()
    let parent = parts.joined(separator: "/")
    return (parent.isEmpty ? (journal.hasPrefix("/") ? "" : ".") : parent) + "/snapshots"
}
