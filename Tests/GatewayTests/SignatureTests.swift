import Foundation
import Testing
@testable import Gateway
import Matching

/// Signatures as Binance's documentation computes them, checked by the gateway's own code.
@Suite struct SignatureTests {
    static let nodeKey = NodeKey(bytes: Array(1...32))
    /// The secret of Binance's SIGNED-endpoint examples.
    static let binanceSecret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"

    static func hmacKey(_ secret: String = binanceSecret, name: String = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A")
        -> ApiKeySpec {
        ApiKeySpec(account: 7, apiKey: name, permissions: .all, kind: .hmac,
                   material: nodeKey.seal(Array(secret.utf8), apiKey: name))
    }

    static func verifies(query: String?, body: String, key: ApiKeySpec, checker: SignatureChecker) throws -> Bool {
        let params = try Params(query: query, body: body)
        return checker.verify(params.signature ?? "", payload: params.signedPayload, spec: key)
    }

    /// Binance's three HMAC-SHA256 examples: the parameters in the query string, in the body,
    /// and split between them (concatenated with no `&` between).
    @Test func binancesPublishedHMACExamplesVerify() throws {
        let checker = SignatureChecker(nodeKey: Self.nodeKey)
        let key = Self.hmacKey()
        let all = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
        let signature = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        #expect(try Self.verifies(query: all + "&signature=" + signature, body: "", key: key, checker: checker))
        #expect(try Self.verifies(query: nil, body: all + "&signature=" + signature, key: key, checker: checker))
        // Not case-sensitive, as Binance says of HMAC signatures.
        #expect(try Self.verifies(query: all + "&signature=" + signature.uppercased(), body: "", key: key, checker: checker))
        let mixed = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
        #expect(try Self.verifies(query: "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC",
                                  body: "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature=" + mixed,
                                  key: key, checker: checker))
        // One changed byte, another secret, a sealed secret moved to another key's name: refused.
        #expect(try !Self.verifies(query: all.replacingOccurrences(of: "price=0.1", with: "price=0.2") + "&signature=" + signature,
                                   body: "", key: key, checker: checker))
        #expect(try !Self.verifies(query: all + "&signature=" + signature, body: "", key: Self.hmacKey("another secret"),
                                   checker: SignatureChecker(nodeKey: Self.nodeKey)))
        var moved = key
        moved.apiKey = "someOtherKey"
        #expect(try !Self.verifies(query: all + "&signature=" + signature, body: "", key: moved,
                                   checker: SignatureChecker(nodeKey: Self.nodeKey)))
        #expect(try !Self.verifies(query: all + "&signature=" + signature, body: "", key: key,
                                   checker: SignatureChecker(nodeKey: NodeKey(bytes: Array(repeating: 9, count: 32)))))
    }

    /// RFC 8032's second Ed25519 test vector, and Binance's Ed25519 example payload signed with
    /// that key by Python's `cryptography` (base64, percent-encoded in the query as clients send it).
    @Test func ed25519SignaturesVerify() throws {
        let publicKey = Array(Data(hexString: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"))
        let key = ApiKeySpec(account: 7, apiKey: "ed", permissions: .all, kind: .ed25519, material: publicKey)
        let checker = SignatureChecker(nodeKey: nil)
        let rfc = Data(hexString: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")
        #expect(checker.verify(rfc.base64EncodedString(), payload: Array("r".utf8), spec: key))
        #expect(!checker.verify(rfc.base64EncodedString(), payload: Array("s".utf8), spec: key))
        let payload = "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=1&price=0.2&timestamp=1668481559918&recvWindow=5000"
        let signed = "CRyg23wY/usrzi+5iwdM5kFgbckPJnsWf2TSe37qpAwUIBu6ZvW0aEhM+3MuUWGDCBwS8bUNWBSOUf1aRTvPAw=="
        let encoded = signed.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        #expect(try Self.verifies(query: payload + "&signature=" + encoded, body: "", key: key, checker: checker))
        #expect(try !Self.verifies(query: payload.replacingOccurrences(of: "SELL", with: "BUY") + "&signature=" + encoded,
                                   body: "", key: key, checker: checker))
    }

    @Test func parametersAreReadAsBinanceReadsThem() throws {
        #expect(throws: APIError.self) { try Params(query: "a=1&a=2", body: "") }
        #expect(throws: APIError.self) { try Params(query: "a=1", body: "a=2") }
        #expect(throws: APIError.self) { try Params(query: "a=%FF", body: "") }
        var p = try Params(query: "symbol=BTCUSDT&limit=5&x=1", body: "")
        #expect(p.string("symbol") == "BTCUSDT")
        #expect(try p.integer("limit", in: 1...10) == 5)
        #expect(throws: APIError.self) { try p.checkAllRead() }
        var q = try Params(query: "limit=50", body: "")
        #expect(throws: APIError.self) { try q.integer("limit", in: 1...10) }
        var r = try Params(query: "quantity=1e-05&price=0.1", body: "")
        #expect(throws: APIError.self) { try r.decimal("quantity") }
        #expect(try r.decimal("price") == ExactDecimal(parsing: "0.1"))
    }

    @Test func amountsPrintAsBinancePrintsThem() {
        #expect(Amount.text(3_000_000, decimals: 2) == "30000.00000000")
        #expect(Amount.text(1, decimals: 5) == "0.00001000")
        #expect(Amount.text(0, decimals: 2) == "0.00000000")
        #expect(Amount.text(-150, decimals: 2) == "-1.50000000")
        #expect(Amount.text(123_456_789_012, decimals: 10) == "12.3456789012")
    }
}

extension Data {
    init(hexString: String) {
        var bytes: [UInt8] = []
        var i = hexString.startIndex
        while i < hexString.endIndex {
            let j = hexString.index(i, offsetBy: 2)
            bytes.append(UInt8(hexString[i..<j], radix: 16)!)
            i = j
        }
        self.init(bytes)
    }
}
