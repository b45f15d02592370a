"""Post the CI gate's Markdown on the pull request as one comment, edited on every re-run.

::

    python -m aifactory.ci.github_comment comment.md [--pr N]

What ``aifactory run … --baseline BASE --markdown comment.md`` wrote becomes the body of one
comment on the pull request. The comment is found again by the hidden marker every gate comment
starts with (:data:`MARKER`), so a re-run of the job edits it instead of adding another.

It reads what GitHub Actions sets: ``GITHUB_API_URL`` (``https://api.github.com`` by default;
GitHub Enterprise sets its own), ``GITHUB_REPOSITORY`` (``owner/name``), ``GITHUB_TOKEN`` (the
job's token with ``pull-requests: write``), and the pull request's number from the event in
``GITHUB_EVENT_PATH`` (``pull_request.number``, or ``issue.number`` for a comment event), unless
``--pr N`` gives it. Outside a pull request it says so and does nothing.

Exit codes: 0 posted or edited (or nothing to comment on), 1 GitHub refused or failed (the
message says why; a fork's pull request gets a read-only token), 2 bad input.

Standard library only: a CI step runs it before or without anything else of aifactory.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

MARKER = "<!-- aifactory-gate -->"
"""The first line of every gate comment (kept in step with ``aifactory.reports.gate``)."""
DEFAULT_API = "https://api.github.com"
MAX_BODY = 65_000
"""GitHub refuses comment bodies over 65,536 characters."""
PER_PAGE = 100
MAX_PAGES = 50
TIMEOUT_S = 30.0


class GitHubError(Exception):
    """GitHub answered an error, or could not be reached."""


def _request(method: str, url: str, token: str, body: Mapping[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/vnd.github+json")
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("X-GitHub-Api-Version", "2022-11-28")
    request.add_header("User-Agent", "aifactory-gate")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:300]
        hint = (
            " (the token may not write to pull requests: give the job "
            "'permissions: pull-requests: write'; a fork's pull request gets a read-only token)"
            if exc.code in (401, 403, 404)
            else ""
        )
        raise GitHubError(f"{method} {url} answered {exc.code}: {detail}{hint}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise GitHubError(f"cannot reach {url}: {reason}") from None
    return json.loads(raw) if raw else None


def pull_request_number(environ: Mapping[str, str]) -> int | None:
    """The pull request the workflow runs for, from its event file (None outside one)."""
    path = environ.get("GITHUB_EVENT_PATH")
    if not path:
        return None
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for key in ("pull_request", "issue"):
        number = event.get(key, {}).get("number") if isinstance(event, dict) else None
        if isinstance(number, int):
            return number
    number = event.get("number") if isinstance(event, dict) else None
    return number if isinstance(number, int) else None


def comment_body(markdown: str) -> str:
    """The comment: the gate's Markdown with the marker first, cut to what GitHub takes."""
    body = markdown if markdown.startswith(MARKER) else f"{MARKER}\n{markdown}"
    if len(body) > MAX_BODY:
        note = "\n\n…cut to fit a comment; the job's log has the whole report.\n"
        body = body[: MAX_BODY - len(note)] + note
    return body


def find_comment(api: str, repo: str, number: int, token: str) -> int | None:
    """The id of the pull request's comment that starts with the marker (the first one)."""
    for page in range(1, MAX_PAGES + 1):
        url = f"{api}/repos/{repo}/issues/{number}/comments?per_page={PER_PAGE}&page={page}"
        comments = _request("GET", url, token)
        if not isinstance(comments, list):
            raise GitHubError(f"GET {url} did not answer a list of comments.")
        for comment in comments:
            body = comment.get("body") or ""
            if isinstance(body, str) and body.lstrip().startswith(MARKER):
                return int(comment["id"])
        if len(comments) < PER_PAGE:
            return None
    return None


def post(api: str, repo: str, number: int, token: str, body: str) -> tuple[str, int]:
    """Create the comment, or edit the one already there; ("created" | "updated", its id)."""
    existing = find_comment(api, repo, number, token)
    if existing is None:
        url = f"{api}/repos/{repo}/issues/{number}/comments"
        made = _request("POST", url, token, {"body": body})
        return "created", int(made["id"])
    _request("PATCH", f"{api}/repos/{repo}/issues/comments/{existing}", token, {"body": body})
    return "updated", existing


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    """Post ``argv``'s Markdown file on the pull request; the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m aifactory.ci.github_comment",
        description="Create or update the CI gate's comment on a GitHub pull request.",
    )
    parser.add_argument("markdown", type=Path, help="the file aifactory run --markdown wrote")
    parser.add_argument("--pr", type=int, help="the pull request's number (default: the event's)")
    args = parser.parse_args(list(argv))
    try:
        markdown = args.markdown.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read {args.markdown}: {exc}", file=sys.stderr)
        return 2
    repo = environ.get("GITHUB_REPOSITORY", "")
    token = environ.get("GITHUB_TOKEN", "")
    if "/" not in repo or not token:
        print(
            "error: GITHUB_REPOSITORY (owner/name) and GITHUB_TOKEN must be set; in a workflow "
            "pass 'GITHUB_TOKEN: ${{ github.token }}' to the step.",
            file=sys.stderr,
        )
        return 2
    number = args.pr or pull_request_number(environ)
    if number is None:
        print("not a pull request: nothing to comment on.", file=sys.stderr)
        return 0
    api = (environ.get("GITHUB_API_URL") or DEFAULT_API).rstrip("/")
    try:
        done, comment_id = post(api, repo, number, token, comment_body(markdown))
    except GitHubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{done} comment {comment_id} on {repo}#{number}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:], os.environ))
