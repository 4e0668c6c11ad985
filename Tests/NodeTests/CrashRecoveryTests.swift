import Codec
import Foundation
import Journal
import Matching
import Node
import Testing
import Workloads

/// A real node process fed on stdin, killed with SIGKILL at seeded random moments, restarted
/// again and again on the same data directory.
@Suite struct CrashRecoveryTests {
    @Test func killNineLosesNothingAcknowledgedAndRecoveryEqualsAFullReplay() throws {
        let seed: UInt64 = 2026
        print("kill -9 test: seed \(seed)")
        signal(SIGPIPE, SIG_IGN)
        var random = SplitMix64(seed: seed)
        let scratch = Scratch("kill9")
        let commands = marketCommands(seed: seed, count: 40_000)
        let lines = commands.map { CommandJSON.encode($0, seq: 0, timestampNs: 0) }
        var next = 0            // the first line not yet in the journal
        var acknowledgedTotal = 0
        for iteration in 0..<8 {
            let before = JournalDirectory.exists(scratch.data.journal)
                ? try JournalInfo.read(directory: scratch.data.journal).lastSequence : 0
            let process = Process()
            process.executableURL = URL(fileURLWithPath: exchangeExecutable)
            process.arguments = ["node", "--data", scratch.path, "--stdin", "--fsync", "always",
                                 "--snapshot-every", "700", "--checkpoint-every", "300"]
            let input = Pipe(), output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Feed lines until the pipe breaks; collect the acknowledged sequences.
            let batch = Array(lines[next..<min(next + 6_000, lines.count)])
            let writerDone = DispatchSemaphore(value: 0)
            let writer = Thread {
                defer { writerDone.signal() }
                let fd = input.fileHandleForWriting.fileDescriptor
                for chunk in stride(from: 0, to: batch.count, by: 50) {
                    let text = batch[chunk..<min(chunk + 50, batch.count)].joined(separator: "\n") + "\n"
                    let ok = Array(text.utf8).withUnsafeBytes { raw -> Bool in
                        var done = 0
                        while done < raw.count {
                            let n = write(fd, raw.baseAddress! + done, raw.count - done)
                            if n <= 0 { return false }
                            done += n
                        }
                        return true
                    }
                    if !ok { break }
                }
            }
            let readOutput = readToEnd(inBackground: output.fileHandleForReading)
            writer.start()
            // Each run gets as far as a snapshot of its own before the kill (the node takes one
            // every 700 commands and waits for more input once the batch is in), so every
            // restart has a snapshot written by a node that was then killed. The limit is a
            // liveness bound, not a measurement. Then the kill comes at a seeded moment.
            if !batch.isEmpty {
                eventually {
                    !process.isRunning
                        || ((try? SnapshotStore.list(scratch.data.snapshots))?.map(\.sequence).max() ?? 0) > before
                }
            }
            usleep(UInt32(random.next() % 200_000))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let stdout = readOutput()
            // The writer stops at the broken pipe; only then may its descriptor be closed
            // (and its number reused).
            writerDone.wait()
            try? input.fileHandleForWriting.close()
            #expect(process.terminationReason == .uncaughtSignal, "iteration \(iteration): the node ended before the kill")

            // Every acknowledged sequence, from the event lines ({"seq":N,...}).
            var acknowledged = Set<UInt64>()
            for line in String(decoding: stdout, as: UTF8.self).split(separator: "\n") where line.hasPrefix("{\"seq\":") {
                let digits = line.dropFirst(7).prefix { $0.isNumber }
                if let seq = UInt64(digits) { acknowledged.insert(seq) }
            }
            acknowledgedTotal += acknowledged.count

            // The journal after `before`: the lines in order (the node's own checkpoints
            // between them), every acknowledged sequence among them.
            let reader = try JournalReader(directory: scratch.data.journal)
            if before > 0 { try reader.seek(to: before + 1) }
            var journaled = 0
            var present = Set<UInt64>()
            while let record = try reader.nextRecord() {
                let command = try CommandCodec.decode(record.bytes)
                if case .checkpoint = command { continue }
                #expect(command == commands[next + journaled], "iteration \(iteration): seq \(record.sequence) is not the line sent")
                present.insert(record.sequence)
                journaled += 1
            }
            let lost = acknowledged.subtracting(present)
            #expect(lost.isEmpty, "iteration \(iteration): acknowledged but not in the journal: \(lost.sorted().prefix(5))")
            next += journaled
            print("kill -9 iteration \(iteration): \(acknowledged.count) acknowledged, \(journaled) journaled after seq \(before)")

            // Recovery (snapshot + tail, by a restarted node) = a replay from scratch.
            let restart = try exchange(["node", "--data", scratch.path, "--stdin", "--json"], stdin: "")
            #expect(restart.status == 0, "iteration \(iteration): \(restart.stderr)")
            #expect(restart.stdout.isEmpty)
            let recovered = lastJSON(restart.stderr)["state_digest"] as? String
            let replay = try exchange(["journal", "replay", "--journal", scratch.data.journal, "--json"])
            let replayed = lastJSON(replay.stdout)["state_digest"] as? String
            #expect(recovered != nil && recovered == replayed, "iteration \(iteration): recovered \(recovered ?? "-") ≠ replayed \(replayed ?? "-")")
        }
        #expect(acknowledgedTotal > 1_000, "the node acknowledged \(acknowledgedTotal) commands over the run")
        #expect(try !SnapshotStore.list(scratch.data.snapshots).isEmpty, "snapshots were taken along the way")
    }
}
