import Codec
import Matching

/// A request's parameters, from its query string and its form body together, as Binance reads
/// them: each at most once, every one read by the endpoint (an unknown one is an error), values
/// percent-decoded.
struct Params {
    private var values: [String: String] = [:]
    private var order: [String] = []
    private var read: Set<String> = ["signature", "timestamp", "recvWindow"]

    /// The text that was signed: the query string and the body, each without its `signature`.
    private(set) var signedPayload: [UInt8] = []
    private(set) var signature: String?

    init(query: String?, body: String) throws(APIError) {
        for var source in [query ?? "", body] {
            var kept: [UInt8] = []
            let outcome: APIError? = source.withUTF8 { bytes -> APIError? in
                var start = 0
                while start < bytes.count {
                    var end = start
                    while end < bytes.count && bytes[end] != UInt8(ascii: "&") { end += 1 }
                    defer { start = end + 1 }
                    guard end > start else { continue }
                    let pair = UnsafeBufferPointer(rebasing: bytes[start..<end])
                    let equals = pair.firstIndex(of: UInt8(ascii: "=")) ?? pair.count
                    guard let name = Self.decode(UnsafeBufferPointer(rebasing: pair[..<equals])) else {
                        return APIError(400, -1100, "Illegal characters found in a parameter name.")
                    }
                    let raw = equals < pair.count ? UnsafeBufferPointer(rebasing: pair[(equals + 1)...])
                                                  : UnsafeBufferPointer(rebasing: pair[pair.count...])
                    guard let value = Self.decode(raw) else {
                        return APIError(400, -1100, "Illegal characters found in parameter '\(name)'.")
                    }
                    if name == "signature" {
                        guard signature == nil else { return APIError(400, -1101, "Duplicate values for parameter 'signature'.") }
                        signature = value
                        continue
                    }
                    if !kept.isEmpty { kept.append(UInt8(ascii: "&")) }
                    kept.append(contentsOf: pair)
                    guard values[name] == nil else { return APIError(400, -1101, "Duplicate values for parameter '\(name)'.") }
                    values[name] = value
                    order.append(name)
                }
                return nil
            }
            if let outcome { throw outcome }
            signedPayload.append(contentsOf: kept)
        }
    }

    /// Percent-decoding of a form value (`+` is a space); nil for a bad escape or bytes that
    /// are not UTF-8.
    private static func decode(_ raw: UnsafeBufferPointer<UInt8>) -> String? {
        if !raw.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") || $0 >= 0x80 }) {
            return String(decoding: raw, as: UTF8.self)
        }
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = 0
        while i < raw.count {
            let b = raw[i]
            if b == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else if b == UInt8(ascii: "%") {
                guard i + 2 < raw.count, let high = hexDigit(raw[i + 1]), let low = hexDigit(raw[i + 2]) else { return nil }
                out.append(high << 4 | low)
                i += 2
            } else {
                out.append(b)
            }
            i += 1
        }
        return String(validating: out, as: UTF8.self)
    }

    /// A parameter's value without reading it (the request's weight looks).
    func peek(_ name: String) -> String? { values[name] }

    mutating func string(_ name: String) -> String? {
        read.insert(name)
        guard let value = values[name], !value.isEmpty else { return nil }
        return value
    }

    mutating func required(_ name: String) throws(APIError) -> String {
        guard let value = string(name) else { throw APIError.mandatory(name) }
        return value
    }

    mutating func integer(_ name: String, in range: ClosedRange<Int64> = 0...Int64.max) throws(APIError) -> Int64? {
        guard let text = string(name) else { return nil }
        guard text.utf8.count <= 20, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 || $0 == 0x2D }),
              let value = Int64(text) else { throw APIError.illegal(name) }
        guard range.contains(value) else {
            throw APIError(400, -1100, "Illegal characters found in parameter '\(name)'; legal range is '\(range.lowerBound)..\(range.upperBound)'.")
        }
        return value
    }

    mutating func decimal(_ name: String) throws(APIError) -> ExactDecimal? {
        guard let text = string(name) else { return nil }
        guard let value = ExactDecimal(parsing: text), value.mantissa >= 0 else {
            throw APIError(400, -1100, "Illegal characters found in parameter '\(name)'; legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.")
        }
        return value
    }

    /// One of `choices` (nil when absent), else Binance's error for that parameter.
    mutating func choice<T>(_ name: String, _ choices: [String: T], error: APIError? = nil) throws(APIError) -> T? {
        guard let text = string(name) else { return nil }
        guard let value = choices[text] else {
            throw error ?? APIError(400, -1100, "Illegal characters found in parameter '\(name)'; legal range is '\(choices.keys.sorted().joined(separator: ", "))'.")
        }
        return value
    }

    /// Refuses parameters the endpoint did not read (Binance's -1104).
    func checkAllRead() throws(APIError) {
        let unread = order.filter { !read.contains($0) }
        guard unread.isEmpty else {
            throw APIError(400, -1104, "Not all sent parameters were read; read \(order.count - unread.count) parameter(s) but was sent \(order.count).")
        }
    }
}
