import Journal
import NIOCore

/// The replication protocol between a primary and its replicas, over one TCP connection per
/// replica. Every message is a frame:
///
/// ```
/// +----------------+-----------+-------------------------+
/// | length (u32)   | kind (u8) | body (length - 1 bytes) |
/// +----------------+-----------+-------------------------+
/// ```
/// little-endian like the journal. The replica speaks first (`hello`: its journal's last
/// sequence and chain hash); the primary answers `welcome` and streams its journal from there
/// as stored (`segment` headers and `block`s, byte for byte), or `refused` with a reason and
/// closes. The replica reports `progress` (durable and applied sequences) as it goes.
/// Docs/REPLICATION.md describes it in full.
/// A point of a journal's chain: a sequence that ends a block, and the chain hash after it.
public struct ChainPoint: Equatable, Sendable {
    public var sequence: UInt64
    public var chain: Digest32
    public init(sequence: UInt64, chain: Digest32) {
        self.sequence = sequence
        self.chain = chain
    }
}

/// Why a primary refuses a replica, so that the replica acts on the kind, not on the words.
public enum Refusal: UInt8, Equatable, Sendable {
    /// Anything else (the primary cannot read its journal).
    case other = 0
    /// None of the replica's points is on the primary's chain: its journal holds records the
    /// primary's history does not (cut at its next start).
    case diverged = 1
    /// The replica is behind what the primary's journal still holds.
    case behind = 2
}

public enum ReplicationFrame: Equatable, Sendable {
    public static let magic: UInt64 = 0x4143_494C_5045_5258  // "XREPLICA"
    public static let version: UInt16 = 1
    /// The largest body: a block of the largest raw size, stored raw, with its header.
    public static let bodyMax = JournalOptions.blockRawCeiling + BlockHeader.size + 64
    /// The most chain points a `hello` carries.
    public static let pointsMax = 64

    /// Replica → primary, first: points of its journal's chain, newest first (where it ends,
    /// then earlier block ends), and its name (for status). At most `pointsMax`.
    case hello(points: [ChainPoint], name: String)
    /// Primary → replica: the stream follows from after `from` (the newest of the replica's
    /// points on the primary's chain). `leader` is where the primary takes orders (its API's
    /// URL; empty when it serves none).
    case welcome(from: UInt64, writtenSequence: UInt64, epoch: UInt64, leader: String)
    /// Primary → replica: why it will not stream (then it closes).
    case refused(Refusal, String)
    /// Primary → replica: a segment header, as stored.
    case segment([UInt8])
    /// Primary → replica: a block, as stored.
    case block([UInt8])
    /// Replica → primary: durable and applied through these sequences.
    case progress(durable: UInt64, applied: UInt64)
    /// Primary → replica, when idle: what it has written (the replica's lag when it has
    /// nothing to send).
    case heartbeat(writtenSequence: UInt64)

    var kind: UInt8 {
        switch self {
        case .hello: return 1
        case .welcome: return 2
        case .refused: return 3
        case .segment: return 4
        case .block: return 5
        case .progress: return 6
        case .heartbeat: return 7
        }
    }

    /// Writes the frame, length first.
    public func write(to out: inout ByteBuffer) {
        let start = out.writerIndex
        out.writeInteger(UInt32(0), endianness: .little)
        out.writeInteger(kind)
        switch self {
        case let .hello(points, name):
            out.writeInteger(Self.magic, endianness: .little)
            out.writeInteger(Self.version, endianness: .little)
            out.writeInteger(UInt16(min(points.count, Self.pointsMax)), endianness: .little)
            for point in points.prefix(Self.pointsMax) {
                out.writeInteger(point.sequence, endianness: .little)
                out.writeBytes(point.chain.bytes)
            }
            Self.writeString(name, to: &out)
        case let .welcome(from, written, epoch, leader):
            out.writeInteger(Self.version, endianness: .little)
            out.writeInteger(from, endianness: .little)
            out.writeInteger(written, endianness: .little)
            out.writeInteger(epoch, endianness: .little)
            Self.writeString(leader, to: &out)
        case let .refused(refusal, reason):
            out.writeInteger(refusal.rawValue)
            Self.writeString(reason, to: &out)
        case let .segment(bytes), let .block(bytes):
            out.writeBytes(bytes)
        case let .progress(durable, applied):
            out.writeInteger(durable, endianness: .little)
            out.writeInteger(applied, endianness: .little)
        case let .heartbeat(written):
            out.writeInteger(written, endianness: .little)
        }
        out.setInteger(UInt32(out.writerIndex - start - 4), at: start, endianness: .little)
    }

    /// Reads one frame's body of `kind`; nil when it is malformed.
    static func read(kind: UInt8, body: inout ByteBuffer) -> ReplicationFrame? {
        func u64() -> UInt64? { body.readInteger(endianness: .little, as: UInt64.self) }
        let frame: ReplicationFrame?
        switch kind {
        case 1:
            guard body.readInteger(endianness: .little, as: UInt64.self) == magic,
                  body.readInteger(endianness: .little, as: UInt16.self) == version,
                  let count = body.readInteger(endianness: .little, as: UInt16.self),
                  count >= 1, Int(count) <= pointsMax else { return nil }
            var points: [ChainPoint] = []
            for _ in 0..<count {
                guard let sequence = u64(), let chainBytes = body.readBytes(length: 32) else { return nil }
                points.append(ChainPoint(sequence: sequence, chain: chainBytes.withUnsafeBytes { Digest32(loading: $0.baseAddress!) }))
            }
            guard let name = readString(&body) else { return nil }
            frame = .hello(points: points, name: name)
        case 2:
            guard body.readInteger(endianness: .little, as: UInt16.self) == version, let from = u64(), let written = u64(),
                  let epoch = u64(), let leader = readString(&body) else { return nil }
            frame = .welcome(from: from, writtenSequence: written, epoch: epoch, leader: leader)
        case 3:
            guard let code = body.readInteger(as: UInt8.self), let refusal = Refusal(rawValue: code),
                  let reason = readString(&body) else { return nil }
            frame = .refused(refusal, reason)
        case 4: frame = .segment(body.readBytes(length: body.readableBytes) ?? [])
        case 5: frame = .block(body.readBytes(length: body.readableBytes) ?? [])
        case 6:
            guard let durable = u64(), let applied = u64() else { return nil }
            frame = .progress(durable: durable, applied: applied)
        case 7:
            guard let written = u64() else { return nil }
            frame = .heartbeat(writtenSequence: written)
        default: return nil
        }
        return body.readableBytes == 0 ? frame : nil
    }

    private static func writeString(_ text: String, to out: inout ByteBuffer) {
        let bytes = Array(text.utf8.prefix(4_096))
        out.writeInteger(UInt16(bytes.count), endianness: .little)
        out.writeBytes(bytes)
    }

    private static func readString(_ body: inout ByteBuffer) -> String? {
        guard let count = body.readInteger(endianness: .little, as: UInt16.self),
              let bytes = body.readBytes(length: Int(count)) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }
}

/// Splits the byte stream into frames; a frame that is too long, of an unknown kind or
/// malformed closes the connection (the replica reconnects and starts again from what it has).
final class ReplicationFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ReplicationFrame

    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt32.self) else {
            return .needMoreData
        }
        guard length >= 1, Int(length) <= ReplicationFrame.bodyMax + 1 else {
            throw Malformed(description: "a frame of \(length) bytes")
        }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        let kind: UInt8 = buffer.readInteger()!
        var body = buffer.readSlice(length: Int(length) - 1)!
        guard let frame = ReplicationFrame.read(kind: kind, body: &body) else {
            throw Malformed(description: "a malformed frame of kind \(kind)")
        }
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }
}
