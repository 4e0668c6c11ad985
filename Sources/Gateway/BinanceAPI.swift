import Codec
import Matching
import Node
import Projections
import _Posix

/// Binance Spot API v3, as far as this exchange trades: the market-data and trading endpoints,
/// their parameters, answers and errors. Independent of the HTTP server: `handle` takes a
/// request's method, path, parameters and client address and gives the status and body.
public final class BinanceAPI: @unchecked Sendable {
    let view: GatewayView
    let signatures: SignatureChecker
    let submitter: Submitter
    let limiter: RateLimiter
    let hub: StreamHub

    init(submitter: Submitter, nodeKey: NodeKey?, limits: RateLimitOptions, hub: StreamHub) {
        self.hub = hub
        self.view = submitter.view
        self.signatures = SignatureChecker(nodeKey: nodeKey)
        self.submitter = submitter
        limiter = RateLimiter(limits)
    }

    /// A request as the API sees it.
    public struct Request: Sendable {
        public var method: String
        public var path: String
        public var query: String?
        public var body: String
        public var apiKey: String?
        /// The client's address (for IP whitelists), as text.
        public var clientIP: String?

        public init(method: String, path: String, query: String?, body: String, apiKey: String?, clientIP: String?) {
            self.method = method; self.path = path; self.query = query; self.body = body
            self.apiKey = apiKey; self.clientIP = clientIP
        }
    }

    public struct Response: Sendable {
        public var status: Int
        public var body: String
        public var headers: [(String, String)] = []

        public init(status: Int, body: String, headers: [(String, String)] = []) {
            self.status = status; self.body = body; self.headers = headers
        }
    }

    public func handle(_ request: Request) async -> Response {
        var headers: [(String, String)] = []
        let parsed = Result { () throws(APIError) -> Params in try Params(query: request.query, body: request.body) }
        let weight = (try? parsed.get()).map { Self.weight(request, $0) } ?? 1
        let now = nowMs()
        switch limiter.charge(ip: request.clientIP ?? "", weight: weight, nowMs: now) {
        case let .allowed(used):
            headers.append((limiter.weightHeader, "\(used)"))
        case let .limited(used, retryAfter):
            let limit = limiter.options.requestWeight
            let interval = limit.interval
            let error = APIError(429, -1003, "Too much request weight used; current limit is \(limit.count) request weight per \(interval.number) \(interval.name). Please use WebSocket Streams for live updates to avoid polling the API.")
            return Response(status: 429, body: error.body,
                            headers: [(limiter.weightHeader, "\(used)"), ("Retry-After", "\(retryAfter)")])
        case let .banned(until, retryAfter):
            let error = APIError(418, -1003, "Way too much request weight used; IP banned until \(until). Please use WebSocket Streams for live updates to avoid bans.")
            return Response(status: 418, body: error.body, headers: [("Retry-After", "\(retryAfter)")])
        }
        do {
            var params = try parsed.get()
            let body = try await route(request, &params, &headers)
            return Response(status: 200, body: body.text, headers: headers)
        } catch let error as APIError {
            return Response(status: error.status, body: error.body, headers: headers)
        } catch {
            return Response(status: 500, body: APIError.unavailable.body, headers: headers)
        }
    }

    /// Binance's weight of a request.
    static func weight(_ request: Request, _ p: Params) -> Int {
        let many = p.peek("symbol") == nil
        switch (request.method, request.path) {
        case ("GET", "/api/v3/exchangeInfo"): return 20
        case ("GET", "/api/v3/depth"):
            switch Int(p.peek("limit") ?? "") ?? 100 {
            case ...100: return 5
            case ...500: return 25
            case ...1_000: return 50
            default: return 250
            }
        case ("GET", "/api/v3/trades"): return 25
        case ("GET", "/api/v3/aggTrades"): return 4
        case ("PUT", "/api/v3/order/amend/keepPriority"): return 4
        case ("GET", "/api/v3/klines"): return 2
        case ("GET", "/api/v3/ticker/price"), ("GET", "/api/v3/ticker/bookTicker"): return many ? 4 : 2
        case ("GET", "/api/v3/ticker/24hr"): return many ? 80 : 2
        case ("POST", "/api/v3/order/test"): return p.peek("computeCommissionRates") == "true" ? 20 : 1
        case ("GET", "/api/v3/order"): return 4
        case ("GET", "/api/v3/openOrders"): return many ? 80 : 6
        case ("GET", "/api/v3/allOrders"), ("GET", "/api/v3/account"): return 20
        case ("GET", "/api/v3/myTrades"): return p.peek("orderId") == nil ? 20 : 5
        default: return 1
        }
    }

    private func route(_ request: Request, _ p: inout Params, _ headers: inout [(String, String)]) async throws -> JSON {
        switch (request.method, request.path) {
        case ("GET", "/api/v3/ping"): try p.checkAllRead(); return .object { _ in }
        case ("GET", "/api/v3/time"):
            try p.checkAllRead()
            return .object { $0.number("serverTime", nowMs()) }
        case ("GET", "/api/v3/exchangeInfo"): return try exchangeInfo(&p)
        case ("GET", "/api/v3/depth"): return try depth(&p)
        case ("GET", "/api/v3/trades"): return try recentTrades(&p)
        case ("GET", "/api/v3/klines"): return try klines(&p)
        case ("GET", "/api/v3/ticker/price"): return try tickers(&p) { _, name, info, r in
            .object {
                $0.string("symbol", name)
                $0.string("price", Amount.price(r.marketData.recentTrades(symbol: info.index, limit: 1).last?.trade.price ?? 0, info.info))
            }
        }
        case ("GET", "/api/v3/ticker/bookTicker"): return try tickers(&p) { _, name, info, r in
            let book = r.marketData.depth(symbol: info.index, limit: 1)
            return .object {
                $0.string("symbol", name)
                $0.string("bidPrice", Amount.price(book.bids.first?.price ?? 0, info.info))
                $0.string("bidQty", Amount.qty(book.bids.first?.qty ?? 0, info.info))
                $0.string("askPrice", Amount.price(book.asks.first?.price ?? 0, info.info))
                $0.string("askQty", Amount.qty(book.asks.first?.qty ?? 0, info.info))
            }
        }
        case ("GET", "/api/v3/ticker/24hr"): return try tickers(&p) { _, name, info, r in self.ticker24h(name, info, r) }
        case ("POST", "/api/v3/order"): return try await placeOrder(request, &p, test: false, &headers)
        case ("POST", "/api/v3/order/test"): return try await placeOrder(request, &p, test: true, &headers)
        case ("DELETE", "/api/v3/order"): return try await cancelOrder(request, &p)
        case ("POST", "/api/v3/order/cancelReplace"): return try await cancelReplace(request, &p, &headers)
        case ("PUT", "/api/v3/order/amend/keepPriority"): return try await amend(request, &p)
        case ("GET", "/api/v3/aggTrades"): return try aggregateTrades(&p)
        case ("POST", "/api/v3/userDataStream"), ("PUT", "/api/v3/userDataStream"), ("DELETE", "/api/v3/userDataStream"):
            return try userDataStream(request, &p)
        case ("GET", "/api/v3/order"): return try queryOrder(request, &p)
        case ("GET", "/api/v3/openOrders"): return try openOrders(request, &p)
        case ("DELETE", "/api/v3/openOrders"): return try await cancelOpenOrders(request, &p)
        case ("GET", "/api/v3/allOrders"): return try allOrders(request, &p)
        case ("GET", "/api/v3/account"): return try account(request, &p)
        case ("GET", "/api/v3/myTrades"): return try myTrades(request, &p)
        default: throw APIError.notFound
        }
    }

    // MARK: - Market data

    struct SymbolRef {
        var index: Int
        var info: SymbolInfo
    }

    private func symbol(_ name: String, _ r: GatewayView.Reading) throws(APIError) -> SymbolRef {
        guard let s = r.engine.symbolIndex(name) else { throw APIError.unknownSymbol }
        return SymbolRef(index: s, info: r.engine.symbols[s])
    }

    private func exchangeInfo(_ p: inout Params) throws(APIError) -> JSON {
        let one = p.string("symbol")
        let many = p.string("symbols")
        try p.checkAllRead()
        var wanted: [String]?
        if let one { wanted = [one] }
        if let many {
            wanted = many.trimmingCharacters(in: ["[", "]"]).split(separator: ",").map {
                $0.trimmingCharacters(in: ["\"", " "])
            }
        }
        return try view.read { r throws(APIError) -> JSON in
            let engine = r.engine
            let names = wanted ?? engine.symbolNames
            var symbols: [JSON] = []
            for name in names {
                let s = try symbol(name, r)
                symbols.append(symbolInfo(name, s.info, engine))
            }
            return .object {
                $0.string("timezone", "UTC")
                $0.number("serverTime", nowMs())
                $0.add("rateLimits", limiter.exchangeInfo)
                $0.add("exchangeFilters", .array([]))
                $0.add("symbols", .array(symbols))
            }
        }
    }

    private func symbolInfo(_ name: String, _ info: SymbolInfo, _ engine: MatchingEngine) -> JSON {
        let base = engine.assets[info.base], quote = engine.assets[info.quote]
        let maxPrice = Int64.max / 1_000 / info.tick * info.tick
        let filters: [JSON] = [
            .object {
                $0.string("filterType", "PRICE_FILTER"); $0.string("minPrice", Amount.price(info.tick, info))
                $0.string("maxPrice", Amount.price(maxPrice, info)); $0.string("tickSize", Amount.price(info.tick, info))
            },
            .object {
                $0.string("filterType", "LOT_SIZE"); $0.string("minQty", Amount.qty(info.minQty, info))
                $0.string("maxQty", Amount.qty(info.maxQty, info)); $0.string("stepSize", Amount.qty(info.step, info))
            },
            .object {
                $0.string("filterType", "MARKET_LOT_SIZE"); $0.string("minQty", Amount.qty(info.minQty, info))
                $0.string("maxQty", Amount.qty(info.maxQty, info)); $0.string("stepSize", Amount.qty(info.step, info))
            },
            .object {
                $0.string("filterType", "NOTIONAL"); $0.string("minNotional", Amount.asset(info.minNotional, quote))
                $0.bool("applyMinToMarket", true); $0.string("maxNotional", Amount.asset(Int64.max / 1_000, quote))
                $0.bool("applyMaxToMarket", false); $0.number("avgPriceMins", 0)
            },
        ]
        return .object {
            $0.string("symbol", name)
            $0.string("status", info.halted ? "HALT" : "TRADING")
            $0.string("baseAsset", base.name); $0.number("baseAssetPrecision", base.scale)
            $0.string("quoteAsset", quote.name); $0.number("quotePrecision", quote.scale)
            $0.number("quoteAssetPrecision", quote.scale)
            $0.number("baseCommissionPrecision", base.scale); $0.number("quoteCommissionPrecision", quote.scale)
            $0.add("orderTypes", .array(["LIMIT", "LIMIT_MAKER", "MARKET"].map(JSON.string)))
            $0.bool("icebergAllowed", false); $0.bool("ocoAllowed", false); $0.bool("otoAllowed", false)
            $0.bool("quoteOrderQtyMarketAllowed", true); $0.bool("allowTrailingStop", false)
            $0.bool("cancelReplaceAllowed", true); $0.bool("amendAllowed", true)
            $0.bool("isSpotTradingAllowed", true); $0.bool("isMarginTradingAllowed", false)
            $0.add("filters", .array(filters))
            $0.add("permissions", .array([]))
            $0.add("permissionSets", .array([.array([.string("SPOT")])]))
            $0.string("defaultSelfTradePreventionMode", "NONE")
            $0.add("allowedSelfTradePreventionModes",
                   .array(["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"].map(JSON.string)))
        }
    }

    private func depth(_ p: inout Params) throws(APIError) -> JSON {
        let name = try p.required("symbol")
        let limit = Int(try p.integer("limit", in: 1...5_000) ?? 100)
        try p.checkAllRead()
        return try view.read { r throws(APIError) -> JSON in
            let s = try symbol(name, r)
            let book = r.marketData.depth(symbol: s.index, limit: limit)
            func levels(_ side: [MarketData.Level]) -> JSON {
                .array(side.map { .array([.string(Amount.price($0.price, s.info)), .string(Amount.qty($0.qty, s.info))]) })
            }
            return .object {
                $0.number("lastUpdateId", book.lastUpdateId)
                $0.add("bids", levels(book.bids))
                $0.add("asks", levels(book.asks))
            }
        }
    }

    private func recentTrades(_ p: inout Params) throws(APIError) -> JSON {
        let name = try p.required("symbol")
        let limit = Int(try p.integer("limit", in: 1...1_000) ?? 500)
        try p.checkAllRead()
        return try view.read { r throws(APIError) -> JSON in
            let s = try symbol(name, r)
            let quote = r.engine.assets[s.info.quote]
            return .array(r.marketData.recentTrades(symbol: s.index, limit: limit).map { t in
                .object {
                    $0.number("id", t.trade.tradeId)
                    $0.string("price", Amount.price(t.trade.price, s.info))
                    $0.string("qty", Amount.qty(t.trade.qty, s.info))
                    $0.string("quoteQty", Amount.asset(t.quoteUnits, quote))
                    $0.number("time", t.timestampNs / 1_000_000)
                    $0.bool("isBuyerMaker", t.trade.takerSide == .sell)
                    $0.bool("isBestMatch", true)
                }
            })
        }
    }

    /// Trades aggregated as Binance does: consecutive trades of one taker order at one price
    /// are one aggregate. An aggregate's id is the id of its first trade.
    private func aggregateTrades(_ p: inout Params) throws(APIError) -> JSON {
        let name = try p.required("symbol")
        let fromId = try p.integer("fromId")
        let start = try p.integer("startTime"), end = try p.integer("endTime")
        let limit = Int(try p.integer("limit", in: 1...1_000) ?? 500)
        try p.checkAllRead()
        return try view.read { r throws(APIError) -> JSON in
            let s = try symbol(name, r)
            var aggregates: [(first: MarketData.RecentTrade, last: MarketData.RecentTrade, qty: Int64)] = []
            for t in r.marketData.recentTrades(symbol: s.index) {
                if let last = aggregates.last?.last, last.trade.takerOrderId == t.trade.takerOrderId,
                   last.trade.price == t.trade.price, last.trade.tradeId + 1 == t.trade.tradeId {
                    aggregates[aggregates.count - 1].last = t
                    aggregates[aggregates.count - 1].qty += t.trade.qty
                } else {
                    aggregates.append((t, t, t.trade.qty))
                }
            }
            var chosen = aggregates.filter { a in
                (fromId.map { a.first.trade.tradeId >= UInt64($0) } ?? true)
                    && (start.map { a.first.timestampNs / 1_000_000 >= $0 } ?? true)
                    && (end.map { a.first.timestampNs / 1_000_000 <= $0 } ?? true)
            }
            chosen = fromId != nil || start != nil ? Array(chosen.prefix(limit)) : Array(chosen.suffix(limit))
            return .array(chosen.map { a in
                .object {
                    $0.number("a", a.first.trade.tradeId); $0.string("p", Amount.price(a.first.trade.price, s.info))
                    $0.string("q", Amount.qty(a.qty, s.info)); $0.number("f", a.first.trade.tradeId)
                    $0.number("l", a.last.trade.tradeId); $0.number("T", a.first.timestampNs / 1_000_000)
                    $0.bool("m", a.first.trade.takerSide == .sell); $0.bool("M", true)
                }
            })
        }
    }

    private static let intervals: [String: KlineInterval] =
        Dictionary(uniqueKeysWithValues: KlineInterval.allCases.map { ($0.rawValue, $0) })

    private func klines(_ p: inout Params) throws(APIError) -> JSON {
        let name = try p.required("symbol")
        guard let interval = try p.choice("interval", Self.intervals, error: APIError(400, -1120, "Invalid interval.")) else {
            throw APIError.mandatory("interval")
        }
        let limit = Int(try p.integer("limit", in: 1...1_000) ?? 500)
        let start = try p.integer("startTime"), end = try p.integer("endTime")
        _ = p.string("timeZone")
        try p.checkAllRead()
        return try view.read { r throws(APIError) -> JSON in
            let s = try symbol(name, r)
            let quote = r.engine.assets[s.info.quote]
            var rows = r.klines(symbol: name, interval: interval).filter { (k: KlineRow) -> Bool in
                (start.map { k.closeTimeMs >= $0 } ?? true) && (end.map { k.openTimeMs <= $0 } ?? true)
            }
            rows = start != nil ? Array(rows.prefix(limit)) : Array(rows.suffix(limit))
            return .array(rows.map { k in
                .array([.number(k.openTimeMs), .string(Amount.price(k.open, s.info)), .string(Amount.price(k.high, s.info)),
                        .string(Amount.price(k.low, s.info)), .string(Amount.price(k.close, s.info)),
                        .string(Amount.qty(k.volume, s.info)), .number(k.closeTimeMs),
                        .string(Amount.asset(k.quoteVolume, quote)), .number(k.trades),
                        .string(Amount.qty(k.takerBuyVolume, s.info)), .string(Amount.asset(k.takerBuyQuoteVolume, quote)),
                        .string("0")])
            })
        }
    }

    /// A ticker endpoint: one object for `symbol`, an array for `symbols` or for all.
    private func tickers(_ p: inout Params,
                         _ one: @escaping (BinanceAPI, String, SymbolRef, GatewayView.Reading) -> JSON) throws(APIError) -> JSON {
        let single = p.string("symbol")
        let many = p.string("symbols")
        _ = p.string("type")
        try p.checkAllRead()
        return try view.read { r throws(APIError) -> JSON in
            if let single { return one(self, single, try symbol(single, r), r) }
            let names = many.map {
                $0.trimmingCharacters(in: ["[", "]"]).split(separator: ",").map { $0.trimmingCharacters(in: ["\"", " "]) }
            } ?? r.engine.symbolNames
            var out: [JSON] = []
            for name in names { out.append(one(self, name, try symbol(name, r), r)) }
            return .array(out)
        }
    }

    /// The last 24 hours from the one-minute klines (`RollingTicker`).
    private func ticker24h(_ name: String, _ s: SymbolRef, _ r: GatewayView.Reading) -> JSON {
        let now = nowMs()
        let t = RollingTicker(s.index, r, nowMs: now)
        let quote = r.engine.assets[s.info.quote]
        return .object {
            $0.string("symbol", name)
            $0.string("priceChange", Amount.price(t.close - t.open, s.info))
            $0.string("priceChangePercent", t.changePercent)
            $0.string("weightedAvgPrice", Amount.price(t.weightedAverage, s.info))
            $0.string("prevClosePrice", Amount.price(t.open, s.info))
            $0.string("lastPrice", Amount.price(t.last?.trade.price ?? 0, s.info))
            $0.string("lastQty", Amount.qty(t.last?.trade.qty ?? 0, s.info))
            $0.string("bidPrice", Amount.price(t.book.bids.first?.price ?? 0, s.info))
            $0.string("bidQty", Amount.qty(t.book.bids.first?.qty ?? 0, s.info))
            $0.string("askPrice", Amount.price(t.book.asks.first?.price ?? 0, s.info))
            $0.string("askQty", Amount.qty(t.book.asks.first?.qty ?? 0, s.info))
            $0.string("openPrice", Amount.price(t.open, s.info))
            $0.string("highPrice", Amount.price(t.high, s.info))
            $0.string("lowPrice", Amount.price(t.low, s.info))
            $0.string("volume", Amount.qty(t.volume, s.info))
            $0.string("quoteVolume", Amount.asset(t.quoteVolume, quote))
            $0.number("openTime", t.openTime)
            $0.number("closeTime", now)
            $0.number("firstId", t.firstId)
            $0.number("lastId", t.lastId)
            $0.number("count", t.count)
        }
    }

    /// Whether the key may be used from the client's address (its IP whitelist, if it has one).
    static func allows(_ spec: ApiKeySpec, from clientIP: String?) -> Bool {
        guard !spec.ipWhitelist.isEmpty else { return true }
        guard let ip = clientIP, let address = CIDR.address(ip), let networks = CIDR.list(spec.ipWhitelist) else {
            return false
        }
        return networks.contains { $0.contains(address) }
    }

    // MARK: - User data streams

    /// `POST` makes a listen key for the key's account, `PUT` keeps one alive for 60 more
    /// minutes, `DELETE` closes it. The API key alone authenticates (no signature).
    private func userDataStream(_ request: Request, _ p: inout Params) throws(APIError) -> JSON {
        guard let name = request.apiKey, !name.isEmpty, name.utf8.count <= 64 else { throw APIError.badKeyFormat }
        guard let spec = view.read({ $0.apiKey(name) }) else { throw APIError.rejectedKey }
        guard Self.allows(spec, from: request.clientIP) else { throw APIError.rejectedKey }
        if request.method == "POST" {
            try p.checkAllRead()
            return .object { $0.string("listenKey", hub.newListenKey(account: spec.account, nowMs: nowMs())) }
        }
        let key = try p.required("listenKey")
        try p.checkAllRead()
        let known = request.method == "PUT" ? hub.keepAlive(key, account: spec.account, nowMs: nowMs())
                                            : hub.close(key, account: spec.account)
        guard known else { throw APIError(400, -1125, "This listenKey does not exist.") }
        return .object { _ in }
    }

    // MARK: - Signed requests

    /// The key that signed the request, once its signature, time window, IP and permission
    /// are checked.
    private func authenticate(_ request: Request, _ p: inout Params, needs permission: ApiPermissions)
        throws(APIError) -> ApiKeySpec {
        guard let name = request.apiKey, !name.isEmpty, name.utf8.count <= 64 else { throw APIError.badKeyFormat }
        guard let spec = view.read({ $0.apiKey(name) }) else { throw APIError.rejectedKey }
        guard let timestamp = try p.integer("timestamp") else { throw APIError.mandatory("timestamp") }
        let window = try p.integer("recvWindow") ?? 5_000
        guard window <= 60_000 else { throw APIError(400, -1131, "recvWindow must be less than 60000") }
        guard let signature = p.signature, !signature.isEmpty else { throw APIError.mandatory("signature") }
        guard signatures.verify(signature, payload: p.signedPayload, spec: spec) else { throw APIError.badSignature }
        guard Self.allows(spec, from: request.clientIP) else { throw APIError.rejectedKey }
        guard spec.permissions.contains(permission) else { throw APIError.rejectedKey }
        let now = nowMs()
        if timestamp >= now + 1_000 { throw APIError(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.") }
        if now - timestamp > window { throw APIError(400, -1021, "Timestamp for this request is outside of the recvWindow.") }
        return spec
    }

    /// Submits a command and waits until the view has applied it.
    private func submit(_ command: Command) async throws(APIError) -> GatewayView.Applied {
        switch await submitter.submit(command) {
        case let .applied(applied): return applied
        case .busy: throw APIError.busy
        case .stopped, .failed: throw APIError.unavailable
        case let .notLeader(leader): throw APIError.notLeader(leader)
        }
    }

    private static let sides: [String: Side] = ["BUY": .buy, "SELL": .sell]
    private static let types: [String: OrderType] = ["LIMIT": .limit, "MARKET": .market, "LIMIT_MAKER": .limitMaker]
    private static let tifs: [String: TimeInForce] = ["GTC": .gtc, "IOC": .ioc, "FOK": .fok]
    private static let stps: [String: SelfTradePrevention] = [
        "NONE": .none, "EXPIRE_TAKER": .expireTaker, "EXPIRE_MAKER": .expireMaker, "EXPIRE_BOTH": .expireBoth]
    private static let responseTypes = ["ACK": 0, "RESULT": 1, "FULL": 2]

    private func clientOrderId(_ p: inout Params, _ name: String) throws(APIError) -> String {
        if let given = p.string(name) {
            guard given.utf8.count <= 36, given.utf8.allSatisfy({ Self.clientIdByte($0) }) else {
                throw APIError(400, -1100, "Illegal characters found in parameter '\(name)'; legal range is '^[a-zA-Z0-9-_.]{1,36}$'.")
            }
            return given
        }
        return Self.newClientOrderId()
    }

    static func clientIdByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F || b == 0x2E
    }

    /// A client order id for an order sent without one, as Binance makes them: 22 random
    /// letters and digits. It is part of the command, so it is journaled like any other.
    static func newClientOrderId() -> String { randomAlphanumeric(22) }

    /// A new order's parameters, as `POST /api/v3/order` and `cancelReplace` read them.
    private struct NewOrder {
        var order: PlaceOrder
        var responseType: Int
    }

    private func parseNewOrder(_ p: inout Params, symbol name: String) throws(APIError) -> (PlaceOrder, Int) {
        guard let side = try p.choice("side", Self.sides, error: APIError(400, -1117, "Invalid side.")) else {
            throw APIError.mandatory("side")
        }
        guard let typeName = p.string("type") else { throw APIError.mandatory("type") }
        guard let type = Self.types[typeName] else { throw APIError(400, -1116, "Invalid orderType.") }
        let tif = try p.choice("timeInForce", Self.tifs, error: APIError(400, -1115, "Invalid timeInForce."))
        let qty = try p.decimal("quantity")
        let quoteQty = try p.decimal("quoteOrderQty")
        let price = try p.decimal("price")
        let clientId = try clientOrderId(&p, "newClientOrderId")
        let stp = try p.choice("selfTradePreventionMode", Self.stps) ?? SelfTradePrevention.none
        let responseType = try p.choice("newOrderRespType", Self.responseTypes) ?? (type == .limitMaker ? 0 : 2)
        // The account is filled in once the key is known.
        var order = PlaceOrder(account: 0, symbol: name, clientId: clientId, side: side, type: type,
                               timeInForce: tif ?? .gtc, stp: stp)
        switch type {
        case .limit, .limitMaker:
            if type == .limit, tif == nil { throw APIError.mandatory("timeInForce") }
            if type == .limitMaker, tif != nil { throw APIError(400, -1106, "Parameter 'timeInForce' sent when not required.") }
            guard let price else { throw APIError.mandatory("price") }
            guard let qty else { throw APIError.mandatory("quantity") }
            if quoteQty != nil { throw APIError(400, -1106, "Parameter 'quoteOrderQty' sent when not required.") }
            order.price = price
            order.qty = qty
        case .market:
            if price != nil { throw APIError(400, -1106, "Parameter 'price' sent when not required.") }
            if tif != nil { throw APIError(400, -1106, "Parameter 'timeInForce' sent when not required.") }
            switch (qty, quoteQty) {
            case (nil, nil): throw APIError(400, -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!")
            case (.some, .some): throw APIError(400, -1106, "Parameter 'quoteOrderQty' sent when not required.")
            default: order.qty = qty; order.quoteQty = quoteQty
            }
        }
        return (order, responseType)
    }

    /// Counts a new order against the account's order limits (the counts go in the headers).
    private func countOrder(_ account: AccountId, _ headers: inout [(String, String)]) throws(APIError) {
        switch limiter.countOrder(account: account, nowMs: nowMs()) {
        case let .success(counts):
            for (name, count) in zip(limiter.orderHeaders, counts) { headers.append((name, "\(count)")) }
        case let .failure(over):
            let interval = over.limit.interval
            headers.append(("Retry-After", "\(over.retryAfterSeconds)"))
            throw APIError(429, -1015, "Too many new orders; current limit is \(over.limit.count) orders per \(interval.number) \(interval.name).")
        }
    }

    /// Journals a new order; its answer, or Binance's error for the engine's rejection.
    private func submitOrder(_ order: PlaceOrder, responseType: Int) async throws(APIError) -> JSON {
        let applied = try await submit(.place(order))
        guard case let .accepted(orderId, _, _, _, _, _, _, _, _)? = applied.events.first else {
            if case let .rejected(_, reason)? = applied.events.first { throw APIError.rejected(reason, type: order.type, cancel: false) }
            throw APIError.unavailable
        }
        return view.read { r in
            let row = applied.orders.first { $0.orderId == orderId }!
            let s = try! symbol(order.symbol, r)
            let transactTime = applied.timestampNs / 1_000_000
            return .object {
                $0.string("symbol", order.symbol); $0.number("orderId", orderId); $0.number("orderListId", -1)
                $0.string("clientOrderId", order.clientId ?? ""); $0.number("transactTime", transactTime)
                guard responseType > 0 else { return }
                self.orderFields(row, s, r.engine, into: &$0, times: false)
                $0.number("workingTime", transactTime)
                if responseType == 2 {
                    $0.add("fills", .array(applied.trades.filter { $0.takerOrderId == orderId }.map { t in
                        .object {
                            $0.string("price", Amount.price(t.price, s.info)); $0.string("qty", Amount.qty(t.qty, s.info))
                            let asset = r.engine.assetIndex(t.takerFeeAsset).map { r.engine.assets[$0] }!
                            $0.string("commission", Amount.asset(t.takerFee, asset))
                            $0.string("commissionAsset", t.takerFeeAsset); $0.number("tradeId", t.tradeId)
                        }
                    }))
                }
                $0.string("selfTradePreventionMode", row.stp)
            }
        }
    }

    private func placeOrder(_ request: Request, _ p: inout Params, test: Bool, _ headers: inout [(String, String)])
        async throws(APIError) -> JSON {
        let name = try p.required("symbol")
        var (order, responseType) = try parseNewOrder(&p, symbol: name)
        if test { _ = p.string("computeCommissionRates") }
        let spec = try authenticate(request, &p, needs: .trade)
        try p.checkAllRead()
        order.account = spec.account
        _ = try view.read { r throws(APIError) in try symbol(name, r) }
        if test { return .object { _ in } }
        try countOrder(spec.account, &headers)
        return try await submitOrder(order, responseType: responseType)
    }

    private static let cancelReplaceModes = ["STOP_ON_FAILURE": false, "ALLOW_FAILURE": true]

    /// Cancels an order, then (if the cancel succeeded, or with `ALLOW_FAILURE` in any case)
    /// places a new one. The two are two journaled commands: another client's command may come
    /// between them.
    private func cancelReplace(_ request: Request, _ p: inout Params, _ headers: inout [(String, String)])
        async throws(APIError) -> JSON {
        let name = try p.required("symbol")
        guard let allowFailure = try p.choice("cancelReplaceMode", Self.cancelReplaceModes) else {
            throw APIError.mandatory("cancelReplaceMode")
        }
        let cancelId = try p.integer("cancelOrderId")
        let cancelClientId = p.string("cancelOrigClientOrderId")
        let cancelNewClientId = try clientOrderId(&p, "cancelNewClientOrderId")
        _ = p.string("cancelRestrictions")
        _ = p.string("orderRateLimitExceededMode")
        var (order, responseType) = try parseNewOrder(&p, symbol: name)
        let spec = try authenticate(request, &p, needs: .trade)
        try p.checkAllRead()
        order.account = spec.account
        let reference: OrderReference
        if let cancelId { reference = .id(OrderId(cancelId)) } else if let cancelClientId { reference = .clientId(cancelClientId) } else {
            throw APIError(400, -1102, "Param 'cancelOrigClientOrderId' or 'cancelOrderId' must be sent, but both were empty/null!")
        }
        _ = try view.read { r throws(APIError) in try symbol(name, r) }
        try countOrder(spec.account, &headers)
        var cancelAnswer: JSON
        var cancelled = false
        do throws(APIError) {
            cancelAnswer = try await cancel(account: spec.account, symbol: name, reference, newClientId: cancelNewClientId)
            cancelled = true
        } catch {
            cancelAnswer = JSON(text: error.body)
        }
        func outcome(_ code: Int, _ message: String, _ newResult: String, _ newAnswer: JSON) -> APIError {
            let data = JSON.object {
                $0.string("cancelResult", cancelled ? "SUCCESS" : "FAILURE"); $0.string("newOrderResult", newResult)
                $0.add("cancelResponse", cancelAnswer); $0.add("newOrderResponse", newAnswer)
            }
            return APIError(code == -2021 ? 409 : 400, code, message, data: data)
        }
        guard cancelled || allowFailure else {
            throw outcome(-2022, "Order cancel-replace failed.", "NOT_ATTEMPTED", JSON(text: "null"))
        }
        let placed: JSON
        do throws(APIError) {
            placed = try await submitOrder(order, responseType: responseType)
        } catch {
            throw cancelled ? outcome(-2021, "Order cancel-replace partially failed.", "FAILURE", JSON(text: error.body))
                            : outcome(-2022, "Order cancel-replace failed.", "FAILURE", JSON(text: error.body))
        }
        guard cancelled else { throw outcome(-2021, "Order cancel-replace partially failed.", "SUCCESS", placed) }
        return .object {
            $0.string("cancelResult", "SUCCESS"); $0.string("newOrderResult", "SUCCESS")
            $0.add("cancelResponse", cancelAnswer); $0.add("newOrderResponse", placed)
        }
    }

    /// `PUT /api/v3/order/amend/keepPriority`: a smaller quantity, the order keeping its place in
    /// the queue. `newQty` is the order's new total quantity (what it has filled included). The
    /// order keeps its client order id: a `newClientOrderId` other than it is refused.
    private func amend(_ request: Request, _ p: inout Params) async throws(APIError) -> JSON {
        let name = try p.required("symbol")
        guard let newQty = try p.decimal("newQty") else { throw APIError.mandatory("newQty") }
        let newClientId = p.string("newClientOrderId")
        let spec = try authenticate(request, &p, needs: .trade)
        let (row, info) = try view.read { r throws(APIError) -> (OrderRow?, SymbolRef) in
            let s = try symbol(name, r)
            return (try namedOrder(&p, account: spec.account, symbol: name, r), s)
        }
        try p.checkAllRead()
        guard let row, row.status.isOpen else { throw APIError.unknownOrder }
        if let newClientId, newClientId != row.clientId {
            throw APIError(400, -1100, "Illegal characters found in parameter 'newClientOrderId'; an amended order keeps its client order id here.")
        }
        guard let units = newQty.units(atScale: info.info.qtyDecimals), units > row.executedQty,
              units < (row.origQty ?? 0) else {
            throw APIError(400, -2038, "Order amend (quantity increase) is not supported.")
        }
        let remaining = ExactDecimal(mantissa: units - row.executedQty, scale: info.info.qtyDecimals)
        let applied = try await submit(.amend(account: spec.account, symbol: name, order: .id(row.orderId), qty: remaining))
        if case let .rejected(_, reason)? = applied.events.first { throw APIError.rejected(reason, type: nil, cancel: false) }
        return view.read { r in
            let after = applied.orders.first { $0.orderId == row.orderId } ?? row
            let s = try! symbol(name, r)
            let quote = r.engine.assets[s.info.quote]
            return .object {
                $0.number("transactTime", applied.timestampNs / 1_000_000)
                $0.number("executionId", Int64(applied.sequence))
                $0.add("amendedOrder", .object {
                    $0.string("symbol", name); $0.number("orderId", after.orderId); $0.number("orderListId", -1)
                    $0.string("origClientOrderId", after.clientId ?? ""); $0.string("clientOrderId", after.clientId ?? "")
                    $0.string("price", Amount.price(after.price ?? 0, s.info))
                    $0.string("qty", Amount.qty(after.origQty ?? 0, s.info))
                    $0.string("executedQty", Amount.qty(after.executedQty, s.info))
                    $0.string("preventedQty", Amount.qty(0, s.info))
                    $0.string("quoteOrderQty", Amount.asset(after.origQuoteQty ?? 0, quote))
                    $0.string("cumulativeQuoteQty", Amount.asset(after.cumulativeQuoteQty, quote))
                    $0.string("status", after.status.rawValue); $0.string("timeInForce", after.timeInForce)
                    $0.string("type", after.type); $0.string("side", after.side)
                    $0.number("workingTime", after.createdNs / 1_000_000)
                    $0.string("selfTradePreventionMode", after.stp)
                })
            }
        }
    }

    /// The fields every order answer shares, after its ids.
    private func orderFields(_ row: OrderRow, _ s: SymbolRef, _ engine: MatchingEngine, into m: inout JSON.Members,
                             times: Bool) {
        let quote = engine.assets[s.info.quote]
        m.string("price", Amount.price(row.price ?? 0, s.info))
        m.string("origQty", Amount.qty(row.origQty ?? row.executedQty, s.info))
        m.string("executedQty", Amount.qty(row.executedQty, s.info))
        m.string("origQuoteOrderQty", Amount.asset(row.origQuoteQty ?? 0, quote))
        m.string("cummulativeQuoteQty", Amount.asset(row.cumulativeQuoteQty, quote))
        m.string("status", row.status.rawValue)
        m.string("timeInForce", row.timeInForce)
        m.string("type", row.type)
        m.string("side", row.side)
        if times {
            m.string("stopPrice", Amount.price(0, s.info))
            m.string("icebergQty", Amount.qty(0, s.info))
            m.number("time", row.createdNs / 1_000_000)
            m.number("updateTime", row.updatedNs / 1_000_000)
            m.bool("isWorking", row.type != OrderType.market.description)
            m.number("workingTime", row.createdNs / 1_000_000)
            m.string("selfTradePreventionMode", row.stp)
        }
    }

    /// An order as GET /api/v3/order shows it.
    private func orderJSON(_ row: OrderRow, _ r: GatewayView.Reading) -> JSON {
        let s = try! symbol(row.symbol, r)
        return .object {
            $0.string("symbol", row.symbol); $0.number("orderId", row.orderId); $0.number("orderListId", -1)
            $0.string("clientOrderId", row.clientId ?? "")
            orderFields(row, s, r.engine, into: &$0, times: true)
        }
    }

    /// The order a request names by `orderId` or `origClientOrderId`, if the account has it.
    private func namedOrder(_ p: inout Params, account: AccountId, symbol name: String, _ r: GatewayView.Reading)
        throws(APIError) -> OrderRow? {
        let id = try p.integer("orderId")
        let clientId = p.string("origClientOrderId")
        let row: OrderRow?
        if let id {
            row = r.order(OrderId(id))
        } else if let clientId {
            row = r.order(account: account, clientId: clientId)
        } else {
            throw APIError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        }
        guard let row, row.account == account, row.symbol == name else { return nil }
        return row
    }

    private func queryOrder(_ request: Request, _ p: inout Params) throws(APIError) -> JSON {
        let name = try p.required("symbol")
        let spec = try authenticate(request, &p, needs: .read)
        return try view.read { r throws(APIError) -> JSON in
            _ = try symbol(name, r)
            let row = try namedOrder(&p, account: spec.account, symbol: name, r)
            try p.checkAllRead()
            guard let row else { throw APIError.unknownOrder }
            return orderJSON(row, r)
        }
    }

    private func cancelOrder(_ request: Request, _ p: inout Params) async throws(APIError) -> JSON {
        let name = try p.required("symbol")
        let id = try p.integer("orderId")
        let clientId = p.string("origClientOrderId")
        let newClientId = try clientOrderId(&p, "newClientOrderId")
        _ = p.string("cancelRestrictions")
        let spec = try authenticate(request, &p, needs: .trade)
        try p.checkAllRead()
        let reference: OrderReference
        if let id { reference = .id(OrderId(id)) } else if let clientId { reference = .clientId(clientId) } else {
            throw APIError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        }
        _ = try view.read { r throws(APIError) in try symbol(name, r) }
        return try await cancel(account: spec.account, symbol: name, reference, newClientId: newClientId)
    }

    /// Journals a cancel; its answer, or Binance's error.
    private func cancel(account: AccountId, symbol name: String, _ reference: OrderReference, newClientId: String)
        async throws(APIError) -> JSON {
        let applied = try await submit(.cancel(account: account, symbol: name, order: reference))
        if case let .rejected(_, reason)? = applied.events.first { throw APIError.rejected(reason, type: nil, cancel: true) }
        return view.read { r in cancelJSON(applied.orders[0], newClientId: newClientId, applied, r) }
    }

    private func cancelJSON(_ row: OrderRow, newClientId: String, _ applied: GatewayView.Applied,
                            _ r: GatewayView.Reading) -> JSON {
        let s = try! symbol(row.symbol, r)
        return .object {
            $0.string("symbol", row.symbol); $0.string("origClientOrderId", row.clientId ?? "")
            $0.number("orderId", row.orderId); $0.number("orderListId", -1)
            $0.string("clientOrderId", newClientId); $0.number("transactTime", applied.timestampNs / 1_000_000)
            orderFields(row, s, r.engine, into: &$0, times: false)
            $0.string("selfTradePreventionMode", row.stp)
        }
    }

    private func cancelOpenOrders(_ request: Request, _ p: inout Params) async throws(APIError) -> JSON {
        let name = try p.required("symbol")
        let spec = try authenticate(request, &p, needs: .trade)
        try p.checkAllRead()
        _ = try view.read { r throws(APIError) in try symbol(name, r) }
        let applied = try await submit(.cancelAll(account: spec.account, symbol: name))
        if case let .rejected(_, reason)? = applied.events.first { throw APIError.rejected(reason, type: nil, cancel: true) }
        return view.read { r in
            .array(applied.orders.sorted { $0.orderId < $1.orderId }.map {
                cancelJSON($0, newClientId: Self.newClientOrderId(), applied, r)
            })
        }
    }

    private func openOrders(_ request: Request, _ p: inout Params) throws(APIError) -> JSON {
        let name = p.string("symbol")
        let spec = try authenticate(request, &p, needs: .read)
        try p.checkAllRead()
        return try view.read { r throws(APIError) -> JSON in
            if let name { _ = try symbol(name, r) }
            return .array(r.openOrders(account: spec.account).filter { name == nil || $0.symbol == name }.map { orderJSON($0, r) })
        }
    }

    private func allOrders(_ request: Request, _ p: inout Params) throws(APIError) -> JSON {
        let name = try p.required("symbol")
        let fromId = try p.integer("orderId")
        let start = try p.integer("startTime"), end = try p.integer("endTime")
        let limit = Int(try p.integer("limit", in: 1...1_000) ?? 500)
        let spec = try authenticate(request, &p, needs: .read)
        try p.checkAllRead()
        return try view.read { r throws(APIError) -> JSON in
            _ = try symbol(name, r)
            var rows = r.orders(account: spec.account).filter { row in
                row.symbol == name && (fromId.map { row.orderId >= UInt64($0) } ?? true)
                    && (start.map { row.createdNs / 1_000_000 >= $0 } ?? true) && (end.map { row.createdNs / 1_000_000 <= $0 } ?? true)
            }
            rows = fromId != nil || start != nil ? Array(rows.prefix(limit)) : Array(rows.suffix(limit))
            return .array(rows.map { orderJSON($0, r) })
        }
    }

    private func account(_ request: Request, _ p: inout Params) throws(APIError) -> JSON {
        let omitZero = p.string("omitZeroBalances") == "true"
        let spec = try authenticate(request, &p, needs: .read)
        try p.checkAllRead()
        return view.read { r in
            let engine = r.engine
            var balances: [JSON] = []
            for asset in engine.assets {
                let b = r.balance(account: spec.account, asset: asset.name)
                if omitZero && b.free == 0 && b.locked == 0 { continue }
                balances.append(.object {
                    $0.string("asset", asset.name); $0.string("free", Amount.asset(b.free, asset))
                    $0.string("locked", Amount.asset(b.locked, asset))
                })
            }
            return .object {
                $0.number("makerCommission", 0); $0.number("takerCommission", 0); $0.number("buyerCommission", 0)
                $0.number("sellerCommission", 0)
                $0.add("commissionRates", .object {
                    for k in ["maker", "taker", "buyer", "seller"] { $0.string(k, "0.00000000") }
                })
                $0.bool("canTrade", spec.permissions.contains(.trade)); $0.bool("canWithdraw", false)
                $0.bool("canDeposit", false); $0.bool("brokered", false); $0.bool("requireSelfTradePrevention", false)
                $0.bool("preventSor", false); $0.number("updateTime", r.lastTimestampNs / 1_000_000)
                $0.string("accountType", "SPOT"); $0.add("balances", .array(balances))
                $0.add("permissions", .array([.string("SPOT")])); $0.number("uid", spec.account)
            }
        }
    }

    private func myTrades(_ request: Request, _ p: inout Params) throws(APIError) -> JSON {
        let name = try p.required("symbol")
        let orderId = try p.integer("orderId")
        let start = try p.integer("startTime"), end = try p.integer("endTime")
        let fromId = try p.integer("fromId")
        let limit = Int(try p.integer("limit", in: 1...1_000) ?? 500)
        let spec = try authenticate(request, &p, needs: .read)
        try p.checkAllRead()
        let account = spec.account
        return try view.read { r throws(APIError) -> JSON in
            let s = try symbol(name, r)
            let quote = r.engine.assets[s.info.quote]
            var rows = r.trades(account: account).filter { t in
                t.symbol == name
                    && (orderId.map { UInt64($0) == t.makerOrderId && t.makerAccount == account
                        || UInt64($0) == t.takerOrderId && t.takerAccount == account } ?? true)
                    && (fromId.map { t.tradeId >= UInt64($0) } ?? true)
                    && (start.map { t.timestampNs / 1_000_000 >= $0 } ?? true)
                    && (end.map { t.timestampNs / 1_000_000 <= $0 } ?? true)
            }
            rows = fromId != nil || start != nil ? Array(rows.prefix(limit)) : Array(rows.suffix(limit))
            var out: [JSON] = []
            for t in rows {
                // A self-trade is both sides of one trade: Binance lists it once per side.
                for isMaker in [true, false] where (isMaker ? t.makerAccount : t.takerAccount) == account {
                    let isBuyer = (t.takerSide == "BUY") != isMaker
                    let feeAsset = isMaker ? t.makerFeeAsset : t.takerFeeAsset
                    let asset = r.engine.assets[r.engine.assetIndex(feeAsset)!]
                    out.append(.object {
                        $0.string("symbol", name); $0.number("id", t.tradeId)
                        $0.number("orderId", isMaker ? t.makerOrderId : t.takerOrderId); $0.number("orderListId", -1)
                        $0.string("price", Amount.price(t.price, s.info)); $0.string("qty", Amount.qty(t.qty, s.info))
                        $0.string("quoteQty", Amount.asset(t.quoteQty, quote))
                        $0.string("commission", Amount.asset(isMaker ? t.makerFee : t.takerFee, asset))
                        $0.string("commissionAsset", feeAsset); $0.number("time", t.timestampNs / 1_000_000)
                        $0.bool("isBuyer", isBuyer); $0.bool("isMaker", isMaker); $0.bool("isBestMatch", true)
                    })
                }
            }
            return .array(out)
        }
    }
}

/// `n` random ASCII letters and digits (client order ids, API keys and secrets, as Binance
/// makes them).
public func randomAlphanumeric(_ n: Int) -> String {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
    // One draw of the system's generator per 8 characters (each is a system call), 62 of 64
    // values of 6 bits kept.
    var generator = SystemRandomNumberGenerator()
    var out: [UInt8] = []
    out.reserveCapacity(n)
    while out.count < n {
        var word = generator.next()
        for _ in 0..<10 where out.count < n {
            let v = Int(word & 63)
            word >>= 6
            if v < alphabet.count { out.append(alphabet[v]) }
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// Milliseconds since 1970 by the wall clock (the gateway's edge; never the engine's).
func nowMs() -> Int64 { wallClockNs() / 1_000_000 }
