import Foundation
import Testing
@testable import Journal
import _ProcessTesting

/// The golden command journals (Journal/golden/README.md): every later version must replay them
/// to the same events, state digest and chain head, through the real binary.
@Suite struct GoldenCommandJournalTests {
    /// A copy of a golden journal (readers may write an index beside the segments).
    func copy(_ name: String) throws -> (TemporaryDirectory, [String: Any]) {
        let dir = TemporaryDirectory("golden-commands")
        let source = packageRoot + "/Journal/golden/" + name
        // File by file (copying the directory whole fails for a user who is not root: it tries
        // to carry the directory's attributes over).
        try FileManager.default.createDirectory(atPath: dir.sub("journal"), withIntermediateDirectories: true)
        for file in try FileManager.default.contentsOfDirectory(atPath: source + "/journal") {
            try FileManager.default.copyItem(atPath: source + "/journal/" + file, toPath: dir.sub("journal/" + file))
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: source + "/expected.json"))
        return (dir, try JSONSerialization.jsonObject(with: data) as! [String: Any])
    }

    func exchange(_ arguments: [String]) throws -> [String: Any] {
        let result = try run(exchangeExecutable, arguments + ["--json"])
        #expect(result.status == 0, "\(arguments): \(result.stderr)")
        return lastJSON(result.stdout)
    }

    @Test func theHandMadeJournalGivesTheEventsAndStateWorkedOutByHand() throws {
        let (dir, expected) = try copy("commands-v1")
        let golden = packageRoot + "/Journal/golden/commands-v1"
        let replay = try exchange(["journal", "replay", "--journal", dir.sub("journal"), "--events", dir.sub("events.jsonl")])
        #expect(replay["state_digest"] as? String == expected["state_digest"] as? String)
        #expect(replay["events"] as? Int == expected["events"] as? Int)
        #expect(replay["trades"] as? Int == expected["trades"] as? Int)
        let events = try String(contentsOfFile: dir.sub("events.jsonl"), encoding: .utf8)
        let byHand = try String(contentsOfFile: golden + "/events.jsonl", encoding: .utf8)
        #expect(events.split(separator: "\n") == byHand.split(separator: "\n"))

        // The expected digest is the second implementation's, of the state worked out by hand.
        let second = try run("/usr/bin/env", ["python3", packageRoot + "/Tools/state_digest.py", golden + "/state.json"])
        #expect(second.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == expected["state_digest"] as? String)

        let verify = try exchange(["journal", "verify", "--journal", dir.sub("journal")])
        #expect(verify["chain_head"] as? String == expected["chain_head"] as? String)
        #expect(try recordsDigest(dir.sub("journal")) == expected["records_sha256"] as? String)

        // Importing the same lines again writes the same records.
        _ = try exchange(["journal", "import", golden + "/commands.jsonl", "--journal", dir.sub("again")])
        #expect(try recordsDigest(dir.sub("again")) == expected["records_sha256"] as? String)
    }

    @Test func theSimulationJournalReplaysToItsDigestAndChainHead() throws {
        let (dir, expected) = try copy("sim-seed3")
        let replay = try exchange(["journal", "replay", "--journal", dir.sub("journal")])
        for key in ["state_digest", "last_seq", "events", "trades", "checkpoints"] {
            #expect(replay[key] as? NSObject == expected[key] as? NSObject, "\(key)")
        }
        #expect(replay["checkpoints_verified"] as? Int == 1, "the second checkpoint verifies the first")
        let verify = try exchange(["journal", "verify", "--journal", dir.sub("journal")])
        #expect(verify["chain_head"] as? String == expected["chain_head"] as? String)
        let theirs = try independentVerify(dir.sub("journal"))
        #expect(theirs["records_sha256"] as? String == expected["records_sha256"] as? String)

        // The same seed and count make the same journal again.
        let sim = try exchange(["sim", "--seed", "3", "--commands", "25000", "--data", dir.sub("again")])
        #expect(sim["chain_head"] as? String == expected["chain_head"] as? String)
        #expect(sim["state_digest"] as? String == expected["state_digest"] as? String)
        #expect(sim["checkpoints"] as? Int == expected["checkpoints"] as? Int)
    }
}
