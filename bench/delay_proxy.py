#!/usr/bin/env python3
"""A TCP proxy that adds a fixed delay to everything a client sends to a server.

    bench/delay_proxy.py UPSTREAM_HOST:PORT DELAY_MS PORT_FILE [REQUEST_LOG]

Listens on 127.0.0.1 on a port the kernel picks and writes that port to PORT_FILE once it
listens. Bytes from the client reach the upstream DELAY_MS after they arrived at the proxy;
delays overlap (a pipeline, like `tc netem delay`), so a request costs DELAY_MS more whatever
its size, and order is kept. Replies pass without delay. Used by bench/cloud.sh to put 20 ms
between git-annex's special remotes and the local S3 server (ferry's test fault proxy is a
library inside the test crate, not a program). It buffers without bound: meant for small
requests, not for bulk uploads. With REQUEST_LOG, the first line of every client chunk that
starts like an HTTP request line ("PUT /bucket/key HTTP/1.1") is appended to that file, so a
bench can count the requests each remote makes per file.
"""
import asyncio
import os
import sys


METHODS = (b"GET ", b"PUT ", b"POST ", b"HEAD ", b"DELETE ", b"MOVE ", b"PROPFIND ", b"MKCOL ")
request_log = None


async def pipe(reader, writer, delay):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def read_side():
        while True:
            try:
                data = await reader.read(65536)
            except (ConnectionError, OSError):
                data = b""
            if request_log and delay and data.startswith(METHODS):
                request_log.write(data.split(b"\r\n", 1)[0].decode("latin-1") + "\n")
                request_log.flush()
            await queue.put((loop.time() + delay, data))
            if not data:
                return

    async def write_side():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                break
            try:
                writer.write(data)
                await writer.drain()
            except (ConnectionError, OSError):
                break
        try:
            writer.close()
        except (ConnectionError, OSError):
            pass

    await asyncio.gather(read_side(), write_side())


async def main():
    global request_log
    upstream, delay_ms, port_file = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    if len(sys.argv) > 4:
        request_log = open(sys.argv[4], "a")
    host, port = upstream.rsplit(":", 1)

    async def handle(client_reader, client_writer):
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            pipe(client_reader, up_writer, delay_ms / 1000.0),
            pipe(up_reader, client_writer, 0.0),
        )

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    with open(port_file + ".tmp", "w") as f:
        f.write(f"{server.sockets[0].getsockname()[1]}\n")
    os.rename(port_file + ".tmp", port_file)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
