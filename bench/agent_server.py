"""A loopback agent for benchmarks: answers the agent contract after a fixed latency.

Run as its own process so its CPU never counts toward the engine's:
``python bench/agent_server.py --port 0 --latency-ms 50`` prints the port it bound.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys

from aiohttp import web

REPLY = json.dumps(
    {"output": json.dumps({"answer": "yes", "n": 3, "note": "refunds within 30 days"})}
).encode()


def make_app(latency_s: float) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        if latency_s:
            await asyncio.sleep(latency_s)
        return web.Response(body=REPLY, content_type="application/json")

    app = web.Application()
    app.router.add_post("/agent", handle)
    return app


async def serve(port: int, latency_ms: float) -> None:
    runner = web.AppRunner(make_app(latency_ms / 1000), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096)
    await site.start()
    bound = runner.addresses[0][1]
    sys.stdout.write(f"{bound}\n")
    sys.stdout.flush()
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.latency_ms))


if __name__ == "__main__":
    main()
