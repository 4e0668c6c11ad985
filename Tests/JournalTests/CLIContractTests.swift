import Foundation
import Testing
@testable import Journal
import _ProcessTesting

/// What the CLI promises its user, through the real binary: it never writes where it should
/// not, says what went wrong, and no line a client sends stops it.
@Suite struct CLIContractTests {
    let asset = #"{"cmd":"add_asset","asset":"BTC","scale":8}"#

    func write(_ lines: [String], to path: String, ending: String = "\n") throws {
        try lines.map { $0 + ending }.joined().write(toFile: path, atomically: true, encoding: .utf8)
    }

    func exchange(_ arguments: [String], stdin: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        try run(exchangeExecutable, arguments, stdin: stdin)
    }

    @Test func versionNamesTheFormats() throws {
        let result = try exchange(["--version"])
        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("exchange ") && result.stdout.contains("journal format 1"))
    }

    @Test func importRefusesWhatIsNotAJournalAndSaysWhatIsMissing() throws {
        let dir = TemporaryDirectory("cli-import-refuse")
        let missing = try exchange(["journal", "import", dir.sub("nothing.jsonl"), "--journal", dir.sub("j")])
        #expect(missing.status != 0 && missing.stderr.contains("no such file"))

        // A directory with other things in it is never written into.
        try FileManager.default.createDirectory(atPath: dir.sub("photos"), withIntermediateDirectories: true)
        try "keep me".write(toFile: dir.sub("photos/a.jpg"), atomically: true, encoding: .utf8)
        try write([asset], to: dir.sub("c.jsonl"))
        let refused = try exchange(["journal", "import", dir.sub("c.jsonl"), "--journal", dir.sub("photos")])
        #expect(refused.status != 0 && refused.stderr.contains("holds no journal"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.sub("photos")) == ["a.jpg"])

        // An empty file creates nothing.
        try "\n\n".write(toFile: dir.sub("empty.jsonl"), atomically: true, encoding: .utf8)
        let empty = try exchange(["journal", "import", dir.sub("empty.jsonl"), "--journal", dir.sub("e"), "--json"])
        #expect(empty.status == 0 && empty.stdout.contains(#""commands":0"#))
        #expect(!FileManager.default.fileExists(atPath: dir.sub("e")))
    }

    @Test func noToolAppendsTheWrongKindOfRecords() throws {
        let dir = TemporaryDirectory("cli-record-kind")
        try write([asset], to: dir.sub("c.jsonl"))
        #expect(try exchange(["journal", "generate", "--journal", dir.sub("g"), "--records", "10"]).status == 0)
        let intoOpaque = try exchange(["journal", "import", dir.sub("c.jsonl"), "--journal", dir.sub("g")])
        #expect(intoOpaque.status != 0 && intoOpaque.stderr.contains("journal of opaque records"))

        #expect(try exchange(["journal", "import", dir.sub("c.jsonl"), "--journal", dir.sub("c")]).status == 0)
        let intoCommands = try exchange(["journal", "generate", "--journal", dir.sub("c"), "--records", "10"])
        #expect(intoCommands.status != 0 && intoCommands.stderr.contains("journal of command records"))
        let info = try exchange(["journal", "info", "--journal", dir.sub("c"), "--json"])
        #expect(info.stdout.contains(#""last_seq":1"#))
    }

    @Test func crlfFilesImportAsLFFilesDo() throws {
        let dir = TemporaryDirectory("cli-crlf")
        let lines = [asset, #"{"cmd":"open_account","account":7}"#, #"{"cmd":"fly","client_id":"x"}"#]
        try write(lines, to: dir.sub("lf.jsonl"))
        try write(lines, to: dir.sub("crlf.jsonl"), ending: "\r\n")
        for name in ["lf", "crlf"] {
            #expect(try exchange(["journal", "import", dir.sub("\(name).jsonl"), "--journal", dir.sub(name)]).status == 0)
        }
        let lf = try exchange(["journal", "export", "--journal", dir.sub("lf")]).stdout
        #expect(lf == (try exchange(["journal", "export", "--journal", dir.sub("crlf")]).stdout))
        #expect(!lf.contains("\r") && !lf.contains("\\r"))
    }

    @Test func aLineThatIsNoJSONObjectStopsTheImport() throws {
        let dir = TemporaryDirectory("cli-not-object")
        for other in ["[1,2]", "42", #""place""#, "null"] {
            try write([asset, other], to: dir.sub("c.jsonl"))
            let result = try exchange(["journal", "import", dir.sub("c.jsonl"), "--journal", dir.sub("j")])
            #expect(result.status != 0 && result.stderr.contains("c.jsonl:2: not a JSON object"), "\(other)")
            #expect(!FileManager.default.fileExists(atPath: dir.sub("j")))
        }
    }

    @Test func anInvalidCommandExportsItsOwnFieldsAfterTheJournalsSeqAndTs() throws {
        let dir = TemporaryDirectory("cli-invalid-export")
        try write([asset, #"{"seq":77,"cmd":"fly","ts":5000,"note":"x"}"#], to: dir.sub("c.jsonl"))
        #expect(try exchange(["journal", "import", dir.sub("c.jsonl"), "--journal", dir.sub("j")]).status == 0)
        let lines = try exchange(["journal", "export", "--journal", dir.sub("j")]).stdout.split(separator: "\n")
        #expect(lines.last == #"{"seq":2,"ts":5000,"cmd":"fly","note":"x"}"#)
        let events = try exchange(["journal", "replay", "--journal", dir.sub("j"), "--events", dir.sub("e.jsonl")])
        #expect(events.status == 0)
        let rejected = try String(contentsOfFile: dir.sub("e.jsonl"), encoding: .utf8).split(separator: "\n").last
        #expect(rejected == #"{"seq":2,"event":"rejected","cmd":"fly","reason":"INVALID_COMMAND","detail":"cmd: unknown command \"fly\""}"#)
    }

    @Test func valuesOutOfRangeAreRejectedNotCrashes() throws {
        let dir = TemporaryDirectory("cli-ranges")
        try write([
            #"{"cmd":"add_asset","asset":"X","scale":-1}"#,
            #"{"cmd":"add_asset","asset":"Y","scale":99999999999999999999}"#,
            #"{"cmd":"add_symbol","symbol":"S","base":"X","quote":"Y","tick_size":"1","step_size":"1","maker_fee_ppm":-5}"#,
            #"{"cmd":"add_symbol","symbol":"S","base":"X","quote":"Y","tick_size":"1","step_size":"1","taker_fee_ppm":-5}"#,
            #"{"cmd":"open_account","account":1,"ts":9223372036854775807}"#,
            #"{"cmd":"open_account","account":2}"#,
        ], to: dir.sub("c.jsonl"))
        for _ in 0..<2 {
            // Twice: a journal ending at the largest time takes more commands without overflow.
            let result = try exchange(["journal", "import", dir.sub("c.jsonl"), "--journal", dir.sub("j")])
            #expect(result.status == 0, "\(result.stderr)")
        }
        let replay = try exchange(["journal", "replay", "--journal", dir.sub("j"), "--events", dir.sub("e.jsonl")])
        #expect(replay.status == 0)
        let events = try String(contentsOfFile: dir.sub("e.jsonl"), encoding: .utf8)
        #expect(events.contains(#""detail":"scale: not an integer in 0…18""#))
        #expect(events.contains(#""detail":"maker_fee_ppm: not an integer in 0…1000000""#))
        #expect(events.contains(#""detail":"taker_fee_ppm: not an integer in 0…1000000""#))
        let exported = try exchange(["journal", "export", "--journal", dir.sub("j")]).stdout.split(separator: "\n")
        #expect(exported.count == 12)
        #expect(exported[5].contains(#""ts":9223372036854775807"#) && exported[6].contains(#""ts":9223372036854775807"#))
    }

    @Test func aCommandTooLargeForARecordStopsTheImportBeforeAnythingIsAppended() throws {
        let dir = TemporaryDirectory("cli-too-large")
        let huge = #"{"cmd":"fly","x":""# + String(repeating: "a", count: 2_000_000) + #""}"#
        try write([asset, huge, asset], to: dir.sub("c.jsonl"))
        let result = try exchange(["journal", "import", dir.sub("c.jsonl"), "--journal", dir.sub("j")])
        #expect(result.status != 0 && result.stderr.contains("c.jsonl:2") && result.stderr.contains("record limit"))
        #expect(!FileManager.default.fileExists(atPath: dir.sub("j")))
    }

    @Test func fromLineResumesAnImport() throws {
        let dir = TemporaryDirectory("cli-from-line")
        let lines = [asset, #"{"cmd":"open_account","account":1}"#, #"{"cmd":"open_account","account":2}"#]
        try write(lines, to: dir.sub("c.jsonl"))
        try write(Array(lines.prefix(2)), to: dir.sub("head.jsonl"))
        #expect(try exchange(["journal", "import", dir.sub("head.jsonl"), "--journal", dir.sub("j")]).status == 0)
        let rest = try exchange(["journal", "import", dir.sub("c.jsonl"), "--journal", dir.sub("j"), "--from-line", "3", "--json"])
        #expect(rest.stdout.contains(#""first_seq":3,"last_seq":3,"commands":1"#))
        #expect(try exchange(["journal", "import", dir.sub("c.jsonl"), "--journal", dir.sub("whole")]).status == 0)
        #expect(try exchange(["journal", "export", "--journal", dir.sub("j")]).stdout
                == (try exchange(["journal", "export", "--journal", dir.sub("whole")]).stdout))
    }

    @Test func nodeSkipsWhatIsNotACommandAndGoesOn() throws {
        let dir = TemporaryDirectory("cli-node-bad-lines")
        let input = [
            #"{"cmd":"add_asset","asset":"X","scale":-1}"#,
            "[1,2]",
            #"{"cmd":"open_account","account":1}"# + "\r",
            #"{"cmd":"fly","x":""# + String(repeating: "a", count: 2_000_000) + #""}"#,
            "",
            #"{"cmd":"open_account","account":2}"#,
        ].joined(separator: "\n") + "\n"
        let result = try exchange(["node", "--data", dir.sub("d"), "--stdin", "--fsync", "none"], stdin: input)
        #expect(result.status == 0)
        #expect(result.stderr.contains("stdin line 2: not a JSON object"))
        #expect(result.stderr.contains("stdin line 4: a line of 2000020 bytes"))
        #expect(result.stdout.split(separator: "\n") == [
            #"{"seq":1,"event":"rejected","cmd":"add_asset","reason":"INVALID_COMMAND","detail":"scale: not an integer in 0…18"}"#,
            #"{"seq":2,"event":"ok","cmd":"open_account"}"#,
            #"{"seq":3,"event":"ok","cmd":"open_account"}"#,
        ])
        // A directory that is not a data directory is not used.
        try FileManager.default.createDirectory(atPath: dir.sub("other"), withIntermediateDirectories: true)
        try "x".write(toFile: dir.sub("other/notes.txt"), atomically: true, encoding: .utf8)
        let refused = try exchange(["node", "--data", dir.sub("other"), "--stdin"], stdin: "")
        #expect(refused.status != 0 && refused.stderr.contains("not a data directory"))
    }

    @Test func simTouchesOnlyItsOwnDirectoriesAndItsSummaryAddsUp() throws {
        let dir = TemporaryDirectory("cli-sim")
        try FileManager.default.createDirectory(atPath: dir.sub("other"), withIntermediateDirectories: true)
        try "x".write(toFile: dir.sub("other/notes.txt"), atomically: true, encoding: .utf8)
        let refused = try exchange(["sim", "--data", dir.sub("other"), "--commands", "10", "--replace"])
        #expect(refused.status != 0 && refused.stderr.contains("not touching it"))
        #expect(FileManager.default.fileExists(atPath: dir.sub("other/notes.txt")))

        // A setup larger than the node's queue (26 symbols, 300 accounts) goes through.
        let args = ["sim", "--data", dir.sub("s"), "--commands", "1000", "--accounts", "300", "--symbols", "26", "--json"]
        let first = lastJSON(try exchange(args).stdout)
        #expect(try exchange(args).status != 0, "an earlier simulation is kept unless --replace is given")
        let again = lastJSON(try exchange(args + ["--replace"]).stdout)
        #expect(again["state_digest"] as? String == first["state_digest"] as? String)
        let commands = first["commands"] as! Int, setup = first["setup_commands"] as! Int
        let checkpoints = first["checkpoints"] as! Int
        #expect(setup > 8_192 && commands + setup + checkpoints == first["last_seq"] as! Int)
        let replay = lastJSON(try exchange(["journal", "replay", "--journal", dir.sub("s/journal"), "--json"]).stdout)
        #expect(replay["events"] as? Int == first["events"] as? Int)
        #expect(replay["checkpoints"] as? Int == checkpoints)
        #expect(replay["state_digest"] as? String == first["state_digest"] as? String)
    }

    @Test func readersSayWhatIsWrongWithWhatTheyAreGiven() throws {
        let dir = TemporaryDirectory("cli-errors")
        for sub in ["list", "verify"] {
            let result = try exchange(["snapshot", sub, "--data", dir.sub("none")])
            #expect(result.status != 0 && result.stderr.contains("no data directory"), "\(sub)")
        }
        try write([asset], to: dir.sub("c.jsonl"))
        #expect(try exchange(["journal", "import", dir.sub("c.jsonl"), "--journal", dir.sub("j")]).status == 0)
        let notSnapshot = try exchange(["journal", "replay", "--journal", dir.sub("j"), "--snapshot", dir.sub("c.jsonl")])
        #expect(notSnapshot.status != 0 && notSnapshot.stderr.contains("not a snapshot"))
        let badTime = try exchange(["journal", "replay", "--journal", dir.sub("j"), "--since", "yesterday"])
        #expect(badTime.status != 0 && badTime.stderr.contains("since"))
    }

    /// A block header damaged in the middle of a journal whose index still points at it: every
    /// reader reports the corruption where it is, as verify does, and none of them crashes.
    @Test func aDamagedHeaderBehindAnIndexIsReportedByEveryReader() throws {
        let dir = TemporaryDirectory("cli-damaged-header")
        let lines = (1...30_000).map { #"{"cmd":"open_account","account":\#($0)}"# }
        try write(lines, to: dir.sub("c.jsonl"))
        let journal = dir.sub("j")
        #expect(try exchange(["journal", "import", dir.sub("c.jsonl"), "--journal", journal]).status == 0)
        #expect(try exchange(["journal", "info", "--journal", journal]).status == 0, "the index is written")
        let segment = try JournalDirectory.segments(journal)[0].path
        let all = try blocks(inSegment: segment)
        try #require(all.count >= 3)
        // Break the second block's magic.
        let victim = all[1]
        let handle = try #require(FileHandle(forUpdatingAtPath: segment))
        try handle.seek(toOffset: UInt64(victim.offset))
        try handle.write(contentsOf: Data([0x00, 0x00, 0x00, 0x01]))
        try handle.close()
        let expected = "corrupt journal: segment \(URL(fileURLWithPath: segment).lastPathComponent), byte offset \(victim.offset)"
        for arguments in [["journal", "info"], ["journal", "replay"], ["journal", "verify"], ["state", "--account", "1"],
                          ["journal", "export", "--from-seq", "\(all[2].header.firstSequence)"]] {
            let result = try exchange(arguments + ["--journal", journal])
            #expect(result.status == 1, "\(arguments): exit \(result.status)")
            #expect(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
        }
    }
}
