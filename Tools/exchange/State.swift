import ArgumentParser
import Codec
import Foundation
import Journal
import Matching
import Node
#if canImport(Glibc)
import Glibc
#endif

struct StateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state", abstract: "The L2 book of a symbol, or an account's balances, after replay.")

    @OptionGroup var common: JournalOptionsGroup
    @Option(name: .customLong("to-seq"), help: "The state after this sequence (default: the journal's end).")
    var toSeq: UInt64?
    @Option(help: "Show this symbol's book: price levels, best first.") var book: String?
    @Option(help: "Levels per side of --book.") var levels: Int = 10
    @Option(help: "Show this account's balances instead.") var account: UInt64?

    func run() throws {
        guard (book == nil) != (account == nil) else { throw fail("give exactly one of --book SYMBOL and --account ID") }
        let directory = try common.existingJournal()
        let engine = try replayJournal(directory, RebuildOptions(toSeq: toSeq)).replayer.engine
        if let book {
            guard let s = engine.symbolIndex(book), let depth = engine.depth(symbol: book, levels: max(0, levels)) else {
                throw fail("unknown symbol \(book)")
            }
            let info = engine.symbols[s]
            func side(_ levels: [(Int64, Int64)]) -> String {
                "[" + levels.map { "[\"\(ExactDecimal.format(units: $0.0, scale: info.priceDecimals))\",\"\(EventJSON.trimmed($0.1, info.qtyDecimals))\"]" }
                    .joined(separator: ",") + "]"
            }
            let line = "{\"symbol\":\"\(book)\",\"bids\":\(side(depth.bids)),\"asks\":\(side(depth.asks))}"
            print(line)
        } else if let account {
            guard engine.hasAccount(account) else { throw fail("unknown account \(account)") }
            var parts: [String] = []
            for asset in engine.assets {
                let b = engine.balance(account: account, asset: asset.name)!
                parts.append("\"\(asset.name)\":{\"free\":\"\(EventJSON.trimmed(b.free, asset.scale))\",\"locked\":\"\(EventJSON.trimmed(b.locked, asset.scale))\"}")
            }
            print("{\"account\":\(account),\"balances\":{\(parts.joined(separator: ","))}}")
        }
    }
}
