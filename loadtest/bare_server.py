"""The benchmark's yardstick: a bare aiohttp JSON endpoint in one process, the same framework and
JSON module the gateway uses, doing only what any JSON API must (read the body, parse it, answer).

    python -m loadtest.bare_server PORT
"""

from __future__ import annotations

import json
import sys

from aiohttp import web


async def echo(request: web.Request) -> web.Response:
    body = json.loads(await request.read())
    return web.json_response({"infcode": 0, "output": {"infno": body.get("infno", "")}})


def main() -> None:
    app = web.Application()
    app.router.add_post("/bare", echo)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
