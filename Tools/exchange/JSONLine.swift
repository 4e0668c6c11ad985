import Codec

/// Builds one JSON object with its keys in the order they are added (the CLI's `--json` lines).
struct JSONLine {
    private var fields: [String] = []

    mutating func add(_ key: String, _ value: Int) { fields.append("\(quote(key)):\(value)") }
    mutating func add(_ key: String, _ value: UInt64) { fields.append("\(quote(key)):\(value)") }
    mutating func add(_ key: String, _ value: Int64) { fields.append("\(quote(key)):\(value)") }
    mutating func add(_ key: String, _ value: Bool) { fields.append("\(quote(key)):\(value)") }
    mutating func add(_ key: String, _ value: String) { fields.append("\(quote(key)):\(quote(value))") }
    mutating func add(_ key: String, _ value: Double, decimals: Int = 3) {
        fields.append("\(quote(key)):\(format(value, decimals: decimals))")
    }
    mutating func addNull(_ key: String) { fields.append("\(quote(key)):null") }
    mutating func addRaw(_ key: String, _ json: String) { fields.append("\(quote(key)):\(json)") }

    var text: String { "{" + fields.joined(separator: ",") + "}" }

    func quote(_ s: String) -> String { JSONObjectWriter.quote(s) }
}

/// A fixed-point rendering with no exponent, as JSON allows.
func format(_ value: Double, decimals: Int) -> String {
    guard value.isFinite else { return "0" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = (value * scale).rounded()
    let negative = scaled < 0
    let digits = String(Int64(abs(scaled)))
    let padded = String(repeating: "0", count: max(0, decimals + 1 - digits.count)) + digits
    let whole = padded.dropLast(decimals)
    let fraction = padded.suffix(decimals)
    return (negative ? "-" : "") + whole + (decimals > 0 ? "." + fraction : "")
}
