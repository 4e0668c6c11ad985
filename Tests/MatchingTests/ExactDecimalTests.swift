import Testing
@testable import Matching

@Suite struct ExactDecimalTests {
    @Test func theInterchangeGrammarAndNothingElse() {
        #expect(ExactDecimal(parsing: "30000.01") == ExactDecimal(mantissa: 3_000_001, scale: 2))
        #expect(ExactDecimal(parsing: "-0.5") == ExactDecimal(mantissa: -5, scale: 1))
        #expect(ExactDecimal(parsing: "7") == ExactDecimal(mantissa: 7, scale: 0))
        for bad in ["", "-", ".5", "5.", "1e5", " 1", "1 ", "+1", "1.2.3", "0x10", "１", "1,5",
                    "0.0000000000000000001", "99999999999999999999"] {
            #expect(ExactDecimal(parsing: bad) == nil, "\(bad)")
        }
    }

    @Test func unitsAreExactOrNothing() {
        #expect(dec("0.5").units(atScale: 8) == 50_000_000)
        #expect(dec("1.230").units(atScale: 2) == 123, "trailing zeros are not finer")
        #expect(dec("1.231").units(atScale: 2) == nil)
        #expect(dec("92233720368.54775807").units(atScale: 8) == Int64.max)
        #expect(ExactDecimal(parsing: "92233720368.54775808") == nil, "past 64 bits")
        #expect(dec("92233720368.54775807").units(atScale: 9) == nil, "past 64 bits once scaled")
        #expect(dec("0.010").significantDecimals == 2)
        #expect(ExactDecimal.format(units: 5, scale: 3) == "0.005")
        #expect(ExactDecimal.format(units: -1_500, scale: 2) == "-15.00")
        #expect(ExactDecimal.format(units: 42, scale: 0) == "42")
    }
}
