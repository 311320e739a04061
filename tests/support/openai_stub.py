"""A local OpenAI-compatible chat-completions server for LLM-mode tests.

It plays a scripted model: for a question it answers with a tool call chosen by simple
rules, after tool results it answers in prose that quotes a number from the tool output,
and for narrative requests (no tools) it returns a fixed-format paragraph. Every request
is kept so tests can check what the client sent.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class StubModel:
    requests: list[dict[str, Any]] = field(default_factory=list)

    def reply(self, body: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(body)
        messages = body["messages"]
        last = messages[-1]
        if body.get("tools") and last["role"] == "user":
            return self._tool_call(last["content"], body["tools"])
        if last["role"] == "tool":
            return self._message(self._summarise(json.loads(last["content"])))
        facts = last["content"]
        return self._message(f"NARRATIVE (stub model): recommendation based on {facts[:200]}")

    def _tool_call(self, question: str, tools: list[dict[str, Any]]) -> dict[str, Any]:
        names = {t["function"]["name"] for t in tools}
        key = re.search(r"\b([a-z0-9]+(?:-[a-z0-9]+){1,5})\b", question.lower())
        if key and "postgresql__analyze_experiment_data" in names:
            name, arguments = "postgresql__analyze_experiment_data", {"experiment_id": key.group(1)}
        else:
            name, arguments = "postgresql__list_experiments", {"status": "running"}
        call = {
            "id": f"call_{len(self.requests)}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call]}

    @staticmethod
    def _summarise(output: dict[str, Any]) -> str:
        if "error" in output:
            return f"The tool failed: {output['error']}"
        if "scorecard" in output:
            row = output["scorecard"]["results"][0]
            return (
                f"{output['experiment']['key']}: {row['metric']} lift "
                f"{row['relative_lift']:+.4f} for {row['variant']} (from analyze_experiment_data)."
            )
        keys = [e["key"] for e in output.get("experiments", [])]
        return f"Running experiments: {', '.join(keys)} (from list_experiments)."

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
def running_stub() -> Iterator[tuple[str, StubModel]]:
    """Yields (base_url, model) for a stub listening on 127.0.0.1."""
    model = StubModel()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if not self.path.endswith("/chat/completions"):
                self.send_error(404)
                return
            payload = json.dumps(completion(model.reply(body))).encode()
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
