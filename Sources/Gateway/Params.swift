import Foundation
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
        for source in [query ?? "", body] {
            var kept: [Substring] = []
            for pair in source.split(separator: "&", omittingEmptySubsequences: true) {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard let name = Self.decode(parts[0]) else { throw APIError(400, -1100, "Illegal characters found in a parameter name.") }
                guard let value = parts.count == 2 ? Self.decode(parts[1]) : "" else {
                    throw APIError(400, -1100, "Illegal characters found in parameter '\(name)'.")
                }
                if name == "signature" {
                    guard signature == nil else { throw APIError(400, -1101, "Duplicate values for parameter 'signature'.") }
                    signature = value
                    continue
                }
                kept.append(pair)
                guard values[name] == nil else { throw APIError(400, -1101, "Duplicate values for parameter '\(name)'.") }
                values[name] = value
                order.append(name)
            }
            signedPayload.append(contentsOf: kept.joined(separator: "&").utf8)
        }
    }

    /// Percent-decoding of a form value (`+` is a space); nil for a bad escape or bytes that
    /// are not UTF-8.
    private static func decode(_ raw: Substring) -> String? {
        let spaced = raw.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding
    }

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
