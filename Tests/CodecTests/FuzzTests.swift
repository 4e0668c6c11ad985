import Foundation
import Testing
@testable import Codec
@testable import Matching

/// A seeded mutation fuzzer over what clients and disks hand the codec: JSON command lines
/// (mutated from a corpus of valid ones) and command records (mutated from their encodings).
/// Whatever the input, nothing may crash; a line that decodes must encode to a record that
/// decodes back to the same command, and applying it must leave an engine whose invariants
/// hold. A failure names its seed and iteration, and re-running with that seed reproduces it.
@Suite struct FuzzTests {
    /// The corpus: the golden hand-made journal's lines (every command kind) and a few more.
    static let corpus: [[UInt8]] = {
        let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Journal/golden/commands-v1/commands.jsonl")
        let text = (try? String(contentsOf: golden, encoding: .utf8)) ?? ""
        var lines = text.split(separator: "\n").map { Array($0.utf8) }
        lines += [
            #"{"cmd":"place","account":8,"symbol":"BTCUSD","client_id":"m1","side":"SELL","type":"MARKET","quote_qty":"1000","stp":"EXPIRE_BOTH","tif":"IOC","ts":5}"#,
            #"{"cmd":"amend","account":1,"symbol":"BTCUSD","client_id":"\u00e9\ud83d\ude00","qty":"0.25"}"#,
            #"{"cmd":"checkpoint","verifies_seq":3,"state_digest":"00"}"#,
            #"  {"a":[1,{"b":null}],"cmd":"halt","symbol":"BTCUSD"}  "#,
        ].map { Array($0.utf8) }
        return lines
    }()

    /// Values that tend to find edges.
    static let tokens: [String] = [
        "-1", "0", "18", "19", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
        "1e5", "1.5", "\"\"", "\"-0.00\"", "\"99999999999999999999\"", "\"0.0000000000000000001\"",
        "null", "true", "[]", "{}", "\"\\u0000\"", "\"\\ud800\"", ",", ":", "\"", "{", "}", "\\",
        "\"BUY\"", "\"MARKET\"", "\"quote_qty\"", "\"ts\"", "\"cmd\"", "\"place\"",
    ]

    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
    }

    /// One to four random edits of `bytes`.
    static func mutate(_ bytes: [UInt8], _ r: inout Random, corpus: [[UInt8]]) -> [UInt8] {
        var out = bytes
        for _ in 0...r.below(4) {
            let at = r.below(out.count + 1)
            switch r.below(7) {
            case 0 where !out.isEmpty: out[min(at, out.count - 1)] ^= UInt8(1 << r.below(8))
            case 1 where !out.isEmpty: out[min(at, out.count - 1)] = UInt8(truncatingIfNeeded: r.next())
            case 2 where !out.isEmpty: out.remove(at: min(at, out.count - 1))
            case 3: out.insert(UInt8(truncatingIfNeeded: r.next()), at: at)
            case 4: out.insert(contentsOf: Array(tokens[r.below(tokens.count)].utf8), at: at)
            case 5:
                // Splice in a piece of another line.
                let other = corpus[r.below(corpus.count)]
                let start = r.below(other.count)
                out.insert(contentsOf: other[start..<min(other.count, start + 1 + r.below(40))], at: at)
            default:
                if !out.isEmpty { out.removeSubrange(at..<min(out.count, at + r.below(12))) }
            }
        }
        return out
    }

    /// An engine with BTCUSD as the golden journal sets it up, with funded accounts 1 and 2.
    static func market() -> MatchingEngine {
        var engine = MatchingEngine()
        var events = EventBuffer()
        for line in corpus.prefix(14) {
            let command = CommandJSON.decode(String(decoding: line, as: UTF8.self))!.command
            engine.apply(command, into: &events)
        }
        return engine
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func mutatedLinesNeverCrashAndWhatDecodesRoundTrips(seed: UInt64) throws {
        var r = Random(state: seed)
        let corpus = Self.corpus
        #expect(corpus.count > 40, "the golden journal's lines are the corpus")
        var reader = CommandJSON.Reader()
        let start = Self.market()
        var engine = start
        var events = EventBuffer()
        var decoded = 0, valid = 0
        let iterations = 100_000
        for i in 0..<iterations {
            let line = Self.mutate(corpus[r.below(corpus.count)], &r, corpus: corpus)
            guard let parsed = line.withUnsafeBytes({ reader.decode($0) }) else { continue }
            decoded += 1
            if case .invalid = parsed.command {} else { valid += 1 }
            var record: [UInt8] = []
            CommandCodec.encode(parsed.command, into: &record)
            let back = try CommandCodec.decode(record)
            #expect(back == parsed.command, "seed \(seed) iteration \(i): \(String(decoding: line, as: UTF8.self))")
            events.removeAll()
            engine.apply(parsed.command, into: &events)
            for event in events.events {
                _ = EventJSON.render(event, of: parsed.command, seq: UInt64(i), engine: engine)
            }
            if i % 1_000 == 0 {
                engine.checkInvariants()
                engine = start
            }
        }
        engine.checkInvariants()
        // The mutations are mild enough that many lines still decode, and many of those are
        // valid commands that reach the engine's rules.
        #expect(decoded > iterations / 10, "seed \(seed): only \(decoded) of \(iterations) decoded")
        #expect(valid > iterations / 50, "seed \(seed): only \(valid) valid commands")
    }

    @Test(arguments: [4, 5] as [UInt64])
    func mutatedRecordsAreRefusedOrDecodedNeverACrash(seed: UInt64) {
        var r = Random(state: seed)
        let records: [[UInt8]] = Self.corpus.compactMap { line in
            guard let parsed = CommandJSON.decode(String(decoding: line, as: UTF8.self)) else { return nil }
            var record: [UInt8] = []
            CommandCodec.encode(parsed.command, into: &record)
            return record
        }
        var decoder = CommandDecoder()
        var refused = 0
        for _ in 0..<60_000 {
            let record = Self.mutate(records[r.below(records.count)], &r, corpus: records)
            do {
                let command = try decoder.decode(record)
                // What decodes encodes back to a record that decodes to the same command.
                var again: [UInt8] = []
                CommandCodec.encode(command, into: &again)
                #expect(try CommandCodec.decode(again) == command, "seed \(seed)")
            } catch {
                refused += 1
            }
        }
        #expect(refused > 0)
    }
}
