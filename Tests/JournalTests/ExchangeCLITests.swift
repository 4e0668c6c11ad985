import Foundation
import Testing
@testable import Journal

/// The `exchange journal` subcommands as a user runs them: `--json` as the last line, a
/// one-line message and a non-zero exit on failure.
@Suite struct ExchangeCLITests {
    @Test func generateVerifyAndInfoReportTheSameJournal() throws {
        let dir = TemporaryDirectory("cli")
        let generated = try run(exchangeExecutable, ["journal", "generate", "--journal", dir.path,
                                                     "--records", "20000", "--segment-kib", "256", "--json"])
        #expect(generated.status == 0, "\(generated.stderr)")
        let g = try lastJSON(generated.stdout)
        #expect(g["first_seq"] as? Int == 1 && g["last_seq"] as? Int == 20_000)
        #expect(g["durable_seq"] as? Int == 20_000, "fsync always by default")

        let verified = try run(exchangeExecutable, ["journal", "verify", "--journal", dir.path, "--json"])
        #expect(verified.status == 0)
        let v = try lastJSON(verified.stdout)
        #expect(v["ok"] as? Bool == true && v["last_seq"] as? Int == 20_000)
        #expect(v["chain_head"] as? String == g["chain_head"] as? String)
        #expect(v["blocks"] as? Int ?? 0 > 10)

        let info = try lastJSON(try run(exchangeExecutable, ["journal", "info", "--journal", dir.path, "--json"]).stdout)
        #expect(info["segments"] as? Int ?? 0 >= 2)
        #expect(info["first_seq"] as? Int == 1 && info["last_seq"] as? Int == 20_000)
        let raw = try #require(info["raw_bytes"] as? Int)
        let stored = try #require(info["stored_bytes"] as? Int)
        #expect(raw == v["raw_bytes"] as? Int)
        #expect(stored < raw, "48-byte order-like records compress")
        let perCommand = try #require(info["bytes_per_command"] as? Double)
        #expect(abs(perCommand - Double(stored) / 20_000) < 0.001)
        let ratio = try #require(info["compression_ratio"] as? Double)
        #expect(ratio > 1.5 && abs(ratio - Double(raw) / Double(stored)) < 0.001)
    }

    @Test func failuresAreOneLineAndNonZero() throws {
        let dir = TemporaryDirectory("cli-fail")
        let missing = try run(exchangeExecutable, ["journal", "verify", "--journal", dir.sub("nope")])
        #expect(missing.status != 0 && missing.stderr.split(separator: "\n").count == 1)
        #expect(missing.stderr.contains("no journal directory"))

        let badPolicy = try run(exchangeExecutable, ["journal", "generate", "--journal", dir.path, "--fsync", "sometimes"])
        #expect(badPolicy.status != 0 && badPolicy.stderr.contains("--fsync"))

        _ = try run(exchangeExecutable, ["journal", "generate", "--journal", dir.path, "--records", "5000", "--segment-kib", "64", "--block-kib", "8"])
        let first = try JournalDirectory.segments(dir.path)[0].path
        let victim = try blocks(inSegment: first)[1]
        try flipBit(first, offset: victim.offset + 40, bit: 1)
        let corrupt = try run(exchangeExecutable, ["journal", "verify", "--journal", dir.path, "--json"])
        #expect(corrupt.status != 0)
        #expect(corrupt.stderr.split(separator: "\n").count == 1)
        #expect(corrupt.stderr.contains("00000000000000000001.seg") && corrupt.stderr.contains("offset \(victim.offset)"))
        let report = try lastJSON(corrupt.stdout)
        #expect(report["ok"] as? Bool == false)

        let retire = try run(exchangeExecutable, ["journal", "retire", "--journal", dir.sub("nope"), "--below-seq", "5"])
        #expect(retire.status != 0)
    }
}
