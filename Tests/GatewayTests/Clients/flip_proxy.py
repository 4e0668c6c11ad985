#!/usr/bin/env python3
"""A TCP proxy between a replica and its primary that damages one block in transit: in the
first connection's first block frame (replication frame kind 5: a 4-byte little-endian length,
the kind byte, then the block), it flips one bit of the block's payload, once. Everything else
passes unchanged, both ways. Prints "listening on PORT" once ready.
Usage: flip_proxy.py TARGET_HOST TARGET_PORT"""
import asyncio
import struct
import sys

TARGET = (sys.argv[1], int(sys.argv[2]))
flipped = False


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def frames_with_one_flip(reader, writer):
    """Primary → replica, frame by frame, flipping a bit of the first block's payload."""
    global flipped
    try:
        while True:
            head = await reader.readexactly(5)
            length, kind = struct.unpack("<IB", head)
            body = bytearray(await reader.readexactly(length - 1))
            if kind == 5 and not flipped and len(body) > 96 + 10:
                body[96 + 10] ^= 0x10
                flipped = True
                print("flipped a bit of a block", flush=True)
            writer.write(head + bytes(body))
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def handle(client_reader, client_writer):
    try:
        server_reader, server_writer = await asyncio.open_connection(*TARGET)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(pipe(client_reader, server_writer), frames_with_one_flip(server_reader, client_writer))


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
