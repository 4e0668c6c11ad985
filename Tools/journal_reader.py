#!/usr/bin/env python3
"""An independent reader of the exchange journal, written from Journal/FORMAT.md alone.

It shares no code with the Swift implementation: CRC-32C, the LZ4 block decoder and the record
framing are written out here, SHA-256 comes from hashlib. The test suite runs it against the
golden journals and against fresh journals and compares its answers with the Swift reader's.

    journal_reader.py verify DIR        one JSON line: ok, last_seq, records, blocks, chain_head,
                                        records_sha256, ...
    journal_reader.py dump DIR          one line per record: seq, ts, hex bytes
    journal_reader.py lz4-frame SEGMENT OFFSET OUT
                                        wrap the stored payload of the block at OFFSET in an LZ4
                                        frame, so that `lz4 -d OUT` gives its raw payload
"""
import hashlib
import json
import os
import struct
import sys

# CRC-32C, reflected polynomial 0x82F63B78, init and final XOR 0xFFFFFFFF.
_TABLE = []
for n in range(256):
    c = n
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    _TABLE.append(c)


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def lz4_length(src, i, nibble):
    """A length whose 4-bit start is 15 goes on in bytes of 255 until one that is not."""
    length = nibble
    if nibble == 15:
        while True:
            extra = src[i]
            i += 1
            length += extra
            if extra != 255:
                break
    return length, i


def lz4_block_decompress(src, raw_size):
    """The LZ4 block format: sequences of token, literals, 2-byte offset, match length."""
    out = bytearray()
    i = 0
    while i < len(src):
        token = src[i]
        i += 1
        literals, i = lz4_length(src, i, token >> 4)
        out += src[i:i + literals]
        i += literals
        if i >= len(src):
            break  # the last sequence has literals only
        offset = src[i] | (src[i + 1] << 8)
        i += 2
        if offset == 0 or offset > len(out):
            raise ValueError("bad LZ4 match offset")
        match, i = lz4_length(src, i, token & 15)
        match += 4
        start = len(out) - offset
        for k in range(match):  # byte by byte: matches may overlap their own output
            out.append(out[start + k])
    if len(out) != raw_size:
        raise ValueError("LZ4 payload expands to %d bytes, header says %d" % (len(out), raw_size))
    return bytes(out)


def varint(buf, i):
    result, shift = 0, 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def to_signed(u):
    return u - (1 << 64) if u >= 1 << 63 else u


class Corrupt(Exception):
    pass


def segments(directory):
    names = [n for n in os.listdir(directory)
             if n.endswith(".seg") and len(n) == 24 and n[:20].isdigit()]
    return sorted(names, key=lambda n: int(n[:20]))


def read_journal(directory, on_record=None):
    report = {"ok": True, "segments": 0, "blocks": 0, "records": 0, "first_seq": 0,
              "last_seq": 0, "chain_head": "00" * 32, "error": None}
    expected_seq, chain, previous_index = None, None, None
    try:
        for position, name in enumerate(segments(directory)):
            data = open(os.path.join(directory, name), "rb").read()
            if len(data) < 128 or data[0:8] != b"XJOURNAL":
                raise Corrupt("%s: bad segment magic" % name)
            if struct.unpack_from("<I", data, 124)[0] != crc32c(data[0:124]):
                raise Corrupt("%s: segment header CRC" % name)
            version, header_bytes = struct.unpack_from("<HH", data, 8)
            if version != 1 or header_bytes != 128:
                raise Corrupt("%s: version %d" % (name, version))
            index, first_seq, _ = struct.unpack_from("<QQQ", data, 16)
            previous_chain = data[40:72]
            if first_seq != int(name[:20]):
                raise Corrupt("%s: first_seq %d differs from its name" % (name, first_seq))
            if position == 0:
                expected_seq, chain = first_seq, previous_chain
                report["first_seq"] = first_seq
            else:
                if index != previous_index + 1 or first_seq != expected_seq or previous_chain != chain:
                    raise Corrupt("%s: does not follow the previous segment" % name)
            previous_index = index
            report["segments"] += 1
            offset = 128
            while offset + 4 <= len(data) and data[offset:offset + 4] != b"\0\0\0\0":
                where = "%s offset %d" % (name, offset)
                if data[offset:offset + 4] != b"XBLK" or offset + 96 > len(data):
                    raise Corrupt("%s: bad block header" % where)
                flags, hdr, seq, count, raw_bytes, stored_bytes, _, first_ts, last_ts = \
                    struct.unpack_from("<HHQIIIIqq", data, offset + 4)
                stored = data[offset + 96:offset + 96 + stored_bytes]
                if hdr != 96 or flags & ~1 or len(stored) != stored_bytes:
                    raise Corrupt("%s: bad block header" % where)
                if struct.unpack_from("<I", data, offset + 92)[0] != crc32c(stored, crc32c(data[offset:offset + 92])):
                    raise Corrupt("%s: CRC mismatch" % where)
                if seq != expected_seq:
                    raise Corrupt("%s: sequence %d, expected %d" % (where, seq, expected_seq))
                raw = lz4_block_decompress(stored, raw_bytes) if flags & 1 else stored
                if len(raw) != raw_bytes:
                    raise Corrupt("%s: raw length" % where)
                fields = struct.pack("<QIIqq", seq, count, raw_bytes, first_ts, last_ts)
                computed = hashlib.sha256(chain + fields + raw).digest()
                if computed != data[offset + 48:offset + 80]:
                    raise Corrupt("%s: chain hash mismatch" % where)
                chain = computed
                i, ts, n = 0, first_ts, 0
                while i < len(raw):
                    length, i = varint(raw, i)
                    delta, i = varint(raw, i)
                    ts = to_signed((ts + ((delta >> 1) ^ -(delta & 1))) & 0xFFFFFFFFFFFFFFFF)
                    if i + length > len(raw):
                        raise Corrupt("%s: record runs past the payload" % where)
                    if on_record:
                        on_record(seq + n, ts, raw[i:i + length])
                    i += length
                    n += 1
                if n != count or ts != last_ts:
                    raise Corrupt("%s: framing disagrees with the header" % where)
                report["blocks"] += 1
                report["records"] += count
                expected_seq = seq + count
                offset += 96 + stored_bytes
    except Corrupt as error:
        report["ok"] = False
        report["error"] = str(error)
    report["last_seq"] = expected_seq - 1 if expected_seq else 0
    report["chain_head"] = (chain or b"\0" * 32).hex()
    return report


def lz4_frame(segment, offset, out):
    data = open(segment, "rb").read()
    flags, = struct.unpack_from("<H", data, offset + 4)
    stored_bytes, = struct.unpack_from("<I", data, offset + 24)
    if not flags & 1:
        raise SystemExit("block at %d is stored raw: its payload is the raw payload" % offset)
    payload = data[offset + 96:offset + 96 + stored_bytes]
    # Frame: magic, FLG 0x60 (version 1, independent blocks), BD 0x70 (blocks up to 4 MiB),
    # header checksum 0x73 (xxh32 of 60 70, second byte), one compressed block, end mark.
    frame = b"\x04\x22\x4d\x18\x60\x70\x73" + struct.pack("<I", len(payload)) + payload + b"\0\0\0\0"
    open(out, "wb").write(frame)


def main(argv):
    if len(argv) >= 3 and argv[1] == "verify":
        # records_sha256: SHA-256 over every record as seq (8) ‖ ts (8, signed) ‖ length (4) ‖
        # bytes, little-endian, in order: one number that pins every record's content.
        digest = hashlib.sha256()
        report = read_journal(argv[2], lambda seq, ts, b: digest.update(
            struct.pack("<QqI", seq, ts, len(b)) + b))
        report["records_sha256"] = digest.hexdigest()
        print(json.dumps(report, sort_keys=True))
        return 0 if report["ok"] else 1
    if len(argv) >= 3 and argv[1] == "dump":
        report = read_journal(argv[2], lambda s, t, b: print(s, t, b.hex()))
        if not report["ok"]:
            print(report["error"], file=sys.stderr)
        return 0 if report["ok"] else 1
    if len(argv) == 5 and argv[1] == "lz4-frame":
        lz4_frame(argv[2], int(argv[3]), argv[4])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
