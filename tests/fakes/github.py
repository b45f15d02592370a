"""A fake GitHub REST API on 127.0.0.1 for the pull-request comment: it keeps comments per issue
and records every call.

It answers what the gate's comment poster uses, as GitHub does:

- ``GET /repos/{owner}/{repo}/issues/{n}/comments?per_page=&page=`` — a page of the comments;
- ``POST /repos/{owner}/{repo}/issues/{n}/comments`` ``{"body"}`` — 201 with the new comment;
- ``PATCH /repos/{owner}/{repo}/issues/comments/{id}`` ``{"body"}`` — 200 with the comment.

Anything without ``Authorization: Bearer <token>`` is a 401; ``refuse`` makes writes a 403 (a
fork's read-only token). ``with FakeGitHub(token) as github:`` serves on ``github.url``.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_LIST = re.compile(r"^/repos/([^/]+/[^/]+)/issues/(\d+)/comments$")
_ONE = re.compile(r"^/repos/([^/]+/[^/]+)/issues/comments/(\d+)$")


@dataclass
class Call:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeGitHub:
    """Issue comments in memory, served over HTTP on 127.0.0.1."""

    token: str
    refuse: bool = False
    calls: list[Call] = field(default_factory=list)
    comments: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    _next_id: int = 1000
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add_comment(self, repo: str, number: int, body: str, user: str = "someone") -> int:
        self._next_id += 1
        self.comments.setdefault((repo, number), []).append(
            {"id": self._next_id, "body": body, "user": {"login": user}}
        )
        return self._next_id

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.method in ("POST", "PATCH")]

    def __enter__(self) -> FakeGitHub:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                fake.calls.append(
                    Call(
                        self.command,
                        parts.path,
                        parse_qs(parts.query),
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                    )
                )
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    self._answer(401, {"message": "Bad credentials"})
                    return
                if fake.refuse and self.command != "GET":
                    self._answer(403, {"message": "Resource not accessible by integration"})
                    return
                listing, one = _LIST.match(parts.path), _ONE.match(parts.path)
                if listing and self.command == "GET":
                    query = parse_qs(parts.query)
                    per_page = int(query.get("per_page", ["30"])[0])
                    page = int(query.get("page", ["1"])[0])
                    key = (listing.group(1), int(listing.group(2)))
                    items = fake.comments.get(key, [])
                    self._answer(200, items[(page - 1) * per_page : page * per_page])
                elif listing and self.command == "POST":
                    key = (listing.group(1), int(listing.group(2)))
                    comment_id = fake.add_comment(*key, body["body"], user="github-actions[bot]")
                    self._answer(201, fake.comments[key][-1] | {"id": comment_id})
                elif one and self.command == "PATCH":
                    repo, comment_id = one.group(1), int(one.group(2))
                    for (owner_repo, _), items in fake.comments.items():
                        for item in items:
                            if owner_repo == repo and item["id"] == comment_id:
                                item["body"] = body["body"]
                                self._answer(200, item)
                                return
                    self._answer(404, {"message": "Not Found"})
                else:
                    self._answer(404, {"message": "Not Found"})

            do_GET = do_POST = do_PATCH = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
