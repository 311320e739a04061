"""A local OpenAI-compatible chat-completions server for LLM-mode tests.

It plays a scripted model. A request with a JSON-schema ``response_format`` (a structured
plan) gets a plan naming the experiment key it finds in the question; a narrative request
gets prose. ``behaviour`` picks the script:

- ``honest``: prose that repeats the answer it was given (numbers from the tools);
- ``inventive``: invented numbers, verdict and action ("+99.9% (p=0.0001, significant).
  Ship the treatment."), and a plan that asks for a recommendation;
- ``error``: HTTP 500; ``malformed``: truncated JSON; ``slow``: answers after ``delay``.

Every request is kept so tests can check what the client sent (e.g. which tools it offered).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

INVENTED = "conversion lift is +99.9% (p=0.0001, significant). Ship the treatment."


@dataclass
class StubModel:
    behaviour: str = "honest"
    delay: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)

    def reply(self, body: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(body)
        last = body["messages"][-1]["content"] or ""
        if body.get("response_format"):
            return self._message(json.dumps(self._plan(last)))
        if self.behaviour == "inventive":
            return self._message(INVENTED)
        if last.startswith("{"):  # the recommendation graph's facts
            facts = json.loads(last)
            lift = facts["numbers"].get("lift")
            quoted = f" at {lift:+.1%}" if lift is not None else ""
            return self._message(
                f"NARRATIVE (stub model): {facts['action']} {facts['experiment']}{quoted}."
            )
        answer = last.split("Answer: ", 1)[-1]
        return self._message(f"In brief: {answer.split(' Period:')[0]}")

    def _plan(self, prompt: str) -> dict[str, Any]:
        question = prompt.split("Question: ", 1)[-1].lower()
        key = re.search(r"\b([a-z0-9]+(?:-[a-z0-9]+){1,5})\b", question)
        experiments = [key.group(1)] if key else []
        if self.behaviour == "inventive":
            return {"intents": ["recommend", "analyze"], "experiments": [*experiments, "made-up"]}
        # an honest but lazy planner: what it is sure of, the rest left empty (NeonBlue's
        # deterministic plan fills the gaps)
        intents = ["trend"] if "predict" in question or "forecast" in question else []
        return {"intents": intents, "experiments": experiments, "horizon_days": None}

    @staticmethod
    def _message(content: str) -> dict[str, Any]:
        return {"role": "assistant", "content": content}


def completion(message: dict[str, Any]) -> dict[str, Any]:
    finish = "tool_calls" if message.get("tool_calls") else "stop"
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 0,
        "model": "stub-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


@contextmanager
def running_stub(behaviour: str = "honest", delay: float = 0.0) -> Iterator[tuple[str, StubModel]]:
    """Yields (base_url, model) for a stub listening on 127.0.0.1."""
    model = StubModel(behaviour, delay)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if not self.path.endswith("/chat/completions"):
                self.send_error(404)
                return
            if model.delay:
                time.sleep(model.delay)
            if model.behaviour == "error":
                model.requests.append(body)
                self.send_error(500, "stub failure")
                return
            payload = json.dumps(completion(model.reply(body))).encode()
            if model.behaviour == "malformed":
                payload = payload[: len(payload) // 2]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1", model
    finally:
        server.shutdown()
        server.server_close()
