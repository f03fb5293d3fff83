"""A lean load-generating visitor: gradio's queue protocol (sse_v3) over one keep-alive httpx client.

Why it exists: `gradio_client` waits for each call with two threads that wake every 50 ms, and opens
a new connection for every call and its event stream. Fifty of them on the server's two cores spent
more CPU than the server did (113 vs 101 ms per call in the same run), so the web load test measured
the load generator as much as the server. This client sends exactly the same requests to the same
route (`/gradio_api/queue/join`, then the session's `/gradio_api/queue/data` stream), through the
same middleware and queue, with the same session per visitor (so its conversation continues), and
blocks on the socket instead of polling. It keeps its connection alive, as a browser does.

It is a benchmark tool only: programs should use gradio_client (Contract 2), which the tests do.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx


class QueueCallError(RuntimeError):
    """The server answered the call with an error, or the stream ended without the answer."""


class QueueClient:
    """One visitor calling one named endpoint, e.g. `QueueClient(http, "http://127.0.0.1:7860", "/chat")`."""

    def __init__(self, http: httpx.Client, url: str, api_name: str) -> None:
        self.http = http
        self.url = url.rstrip("/")
        config = http.get(self.url + "/config").json()  # as gradio_client does, once per visitor
        self.prefix = str(config.get("api_prefix") or "/gradio_api")
        name = api_name.lstrip("/")
        dependency = next((d for d in config["dependencies"] if d.get("api_name") == name), None)
        if dependency is None:
            raise ValueError(f"no endpoint {api_name!r} at {url}")
        types = {c["id"]: c.get("type") for c in config["components"]}
        self.fn_index = int(dependency["id"])
        # state inputs are sent as None: the server keeps them per session (as gradio_client does)
        self.state_inputs = [types.get(i) == "state" for i in dependency["inputs"]]
        self.session_hash = secrets.token_hex(6)

    def predict(self, *values: Any) -> Any:
        """The endpoint's first output for these (non-state) input values."""
        given = iter(values)
        data = [None if is_state else next(given) for is_state in self.state_inputs]
        joined = self.http.post(
            f"{self.url}{self.prefix}/queue/join",
            json={
                "data": data,
                "fn_index": self.fn_index,
                "session_hash": self.session_hash,
                "event_data": None,
                "trigger_id": None,
            },
        )
        joined.raise_for_status()
        event_id = joined.json()["event_id"]
        result: Any = None
        done = False
        with self.http.stream(
            "GET",
            f"{self.url}{self.prefix}/queue/data",
            params={"session_hash": self.session_hash},
            timeout=httpx.Timeout(5.0, read=None),  # the answer takes as long as it takes, as for gradio_client
        ) as stream:
            stream.raise_for_status()
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                kind = message.get("msg")
                if kind == "close_stream":
                    break
                if message.get("event_id") != event_id:
                    continue
                if kind == "unexpected_error":
                    raise QueueCallError(str(message.get("message"))[:200])
                if kind == "process_completed":
                    if not message.get("success"):
                        raise QueueCallError(str(message.get("output", {}).get("error"))[:200])
                    result, done = message["output"]["data"][0], True
                    # read on to the end of the stream, so the connection can be used again
        if not done:
            raise QueueCallError("the event stream ended before the answer")
        return result
