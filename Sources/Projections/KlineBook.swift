import Matching

/// The current kline of every (symbol, interval), built from trades as Binance builds them: a
/// trade at time T falls in the period that starts at T rounded down to the interval (UTC
/// milliseconds); only periods with trades have a kline.
public struct KlineBook: Sendable {
    /// Slot `symbol × intervals + interval`.
    public private(set) var current: [KlineRow?] = []

    public init() {}

    public static func slot(symbol: Int, interval: KlineInterval) -> Int {
        symbol * KlineInterval.allCases.count + KlineInterval.allCases.firstIndex(of: interval)!
    }

    /// Adds a trade to its symbol's klines of every interval.
    /// - Parameter changed: called for each slot the trade changed, with the kline the trade
    ///   ended (a period before the trade's, now final), if any.
    public mutating func add(_ t: Trade, symbol: String, quoteUnits: Int64, timestampNs: Int64,
                             changed: (_ slot: Int, _ finished: KlineRow?) -> Void) {
        let intervals = KlineInterval.allCases
        let needed = (t.symbol + 1) * intervals.count
        if current.count < needed { current += Array(repeating: nil, count: needed - current.count) }
        let timeMs = Self.floorDiv(timestampNs, 1_000_000)
        let takerBuys = t.takerSide == .buy
        for (i, interval) in intervals.enumerated() {
            let slot = t.symbol * intervals.count + i
            let openTime = Self.floorDiv(timeMs, interval.milliseconds) * interval.milliseconds
            var finished: KlineRow?
            if var kline = current[slot], kline.openTimeMs == openTime {
                kline.high = max(kline.high, t.price)
                kline.low = min(kline.low, t.price)
                kline.close = t.price
                kline.volume += t.qty
                kline.quoteVolume += quoteUnits
                kline.trades += 1
                if takerBuys {
                    kline.takerBuyVolume += t.qty
                    kline.takerBuyQuoteVolume += quoteUnits
                }
                current[slot] = kline
            } else {
                finished = current[slot]
                current[slot] = KlineRow(
                    symbol: symbol, interval: interval, openTimeMs: openTime, open: t.price, high: t.price,
                    low: t.price, close: t.price, volume: t.qty, quoteVolume: quoteUnits, trades: 1,
                    takerBuyVolume: takerBuys ? t.qty : 0, takerBuyQuoteVolume: takerBuys ? quoteUnits : 0)
            }
            changed(slot, finished)
        }
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }
}
