#!/usr/bin/env python3
"""A TCP delay line for benchmarks where netem is missing (this kernel has no
sch_netem): listens on 127.0.0.1:<port>, forwards every connection to
<target-host>:<target-port>, and in each direction delays every byte by
<one-way-ms> and lets through at most <rate-MB/s> (a bottleneck with a queue
of at most <queue-MiB>, past which it stops reading: TCP backpressure).

    delayline.py <port> <target-host> <target-port> <one-way-ms> <rate-MB/s> [queue-MiB=64]

Prints "ready" once listening; runs until killed.
"""

import asyncio
import collections
import sys
import time


async def pump(reader, writer, delay, rate, queue_bytes):
    queue = collections.deque()
    queued = 0
    more = asyncio.Event()
    room = asyncio.Event()
    room.set()
    done = False

    async def read_side():
        nonlocal queued, done
        while True:
            await room.wait()
            data = await reader.read(256 * 1024)
            if not data:
                done = True
                more.set()
                return
            queue.append((time.monotonic() + delay, data))
            queued += len(data)
            if queued >= queue_bytes:
                room.clear()
            more.set()

    async def write_side():
        nonlocal queued
        free_at = time.monotonic()  # when the bottleneck is free again
        while True:
            if not queue:
                if done:
                    break
                more.clear()
                await more.wait()
                continue
            due, data = queue[0]
            # Serialization at the bottleneck, then the propagation delay.
            free_at = max(free_at, due - delay) + len(data) / rate
            wait = max(due, free_at + delay) - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            queue.popleft()
            queued -= len(data)
            if queued < queue_bytes:
                room.set()
            writer.write(data)
            await writer.drain()
        writer.write_eof() if writer.can_write_eof() else None

    try:
        await asyncio.gather(read_side(), write_side())
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def main(argv):
    port, host, target_port = int(argv[0]), argv[1], int(argv[2])
    delay, rate = float(argv[3]) / 1000, float(argv[4]) * 1e6
    queue_bytes = int(float(argv[5]) * 1048576) if len(argv) > 5 else 64 << 20

    async def handle(client_reader, client_writer):
        server_reader, server_writer = await asyncio.open_connection(host, target_port)
        await asyncio.gather(pump(client_reader, server_writer, delay, rate, queue_bytes),
                             pump(server_reader, client_writer, delay, rate, queue_bytes))

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
