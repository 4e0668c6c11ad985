import Codec
import Foundation
import Journal
import Matching
import Node
import Projections
import ProjectionsSQLite
import Simulation
@_exported import _ProcessTesting

extension Scratch {
    /// A data directory inside the scratch directory.
    var data: DataDirectory { DataDirectory(path + "/data") }
}

/// A seeded simulation through a real node into `scratch`; returns the journal directory.
@discardableResult
func simulate(into scratch: Scratch, seed: UInt64, commands: Int, symbols: Int = 2, accounts: Int = 20) throws -> String {
    var options = SimulationOptions()
    options.seed = seed
    options.commands = commands
    options.symbols = symbols
    options.accounts = accounts
    _ = try Simulation(options: options).run(data: scratch.data)
    return scratch.data.journal
}


/// Every row of every table, in key order, as text: two read models are the same when these are.
func dump(_ store: any ReadModelStore) throws -> [String: [[SQLValue]]] {
    var out: [String: [[SQLValue]]] = [:]
    for table in Schema.tables {
        let columns = table.columns.map(\.name).joined(separator: ", ")
        out[table.name] = try store.query(
            "SELECT \(columns) FROM \(table.name) ORDER BY \(table.primaryKey.joined(separator: ", "))", [])
    }
    return out
}

/// What a replay of the journal says, gathered independently of the projector: the engine at
/// the end, each command with its events and time.
struct ReplayFacts {
    var engine: MatchingEngine
    var steps: [(seq: UInt64, ts: Int64, command: Command, events: [Event])] = []

    init(journal: String) throws {
        let reader = try JournalReader(directory: journal)
        var replayer = Replayer()
        while let record = try reader.nextView() {
            let command = try replayer.apply(record)
            steps.append((record.sequence, record.timestampNs, command, Array(replayer.buffer.events)))
        }
        engine = replayer.engine
    }
}
