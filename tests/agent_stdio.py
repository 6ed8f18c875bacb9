"""A scripted agent for the MCP recipes (tests/test_recipes_agents.py): the `mcp` SDK (1.x, the
one the servers are pinned to) over stdio, calling the server's tools in order.

Run by the server's own venv Python: `python agent_stdio.py PLAN.json`, where the plan is
{"command": [...], "env": {...}, "calls": [[tool, arguments], ...]}. Prints one JSON list: the
server's tool names, then {"tool", "text", "is_error"} for each call.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import timedelta
from typing import Any

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def run(plan: dict[str, Any]) -> list[Any]:
    params = StdioServerParameters(command=plan["command"][0], args=plan["command"][1:], env=plan["env"])
    seen: list[Any] = []
    async with stdio_client(params) as (read, write), ClientSession(
        read, write, read_timeout_seconds=timedelta(seconds=240)
    ) as session:
        await session.initialize()
        seen.append(sorted(t.name for t in (await session.list_tools()).tools))
        for name, arguments in plan["calls"]:
            try:
                result = await session.call_tool(name, arguments)
            except Exception as e:  # noqa: BLE001 - the test reads what the agent would see
                seen.append({"tool": name, "text": f"{type(e).__name__}: {e}", "is_error": True})
                continue
            text = "\n".join(getattr(item, "text", "") for item in result.content)
            seen.append({"tool": name, "text": text, "is_error": bool(result.isError)})
    return seen


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(json.dumps(asyncio.run(run(json.load(f)))))
