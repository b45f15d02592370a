"""promptfoo prompts: inline text, chat arrays, files, objects; and filling them in."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from aifactory.domain.suites.reading import Context
from aifactory.domain.suites.references import is_ref, read_ref, ref_data
from aifactory.domain.suites.templates import TemplateError, as_text, render_template

ChatTemplate = tuple[tuple[str, str], ...]
"""A chat prompt: (role, content template) pairs."""

_ROLES = ("system", "user", "assistant")


@dataclass(frozen=True, slots=True)
class Prompt:
    """One prompt template and the label tests select it by."""

    label: str
    template: str | ChatTemplate


def load_prompts(raw: Any, ctx: Context) -> list[Prompt]:
    """The file's prompts, in order; a text file with ``---`` lines holds several."""
    entries: list[tuple[str, str | None, str]] = []  # (source, label, field)
    if raw is None:
        return []
    if isinstance(raw, str):
        entries.append((raw, None, "prompts"))
    elif isinstance(raw, dict):  # the older {path: label} form
        entries.extend(
            (str(k), v if isinstance(v, str) else None, f"prompts.{k}") for k, v in raw.items()
        )
    elif isinstance(raw, list):
        for index, item in enumerate(raw):
            at = f"prompts[{index}]"
            if isinstance(item, dict):
                source = item.get("raw", item.get("id"))
                label = item.get("label") or item.get("id")
                if not isinstance(source, str):
                    raise ctx.error(
                        "A prompt object needs 'raw' text or an 'id' naming a file.", at=at
                    )
                entries.append((source, label if isinstance(label, str) else None, at))
            elif isinstance(item, str):
                entries.append((item, None, at))
            else:
                raise ctx.error(
                    "A prompt must be text, a file reference or an object with 'raw'.", at=at
                )
    else:
        raise ctx.error("'prompts' must be a list of prompts.", at="prompts")
    prompts: list[Prompt] = []
    for source, label, at in entries:
        for template in _prompt_templates(source, ctx, at):
            try:
                for text in [template] if isinstance(template, str) else [c for _, c in template]:
                    render_template(text, {}, set())
            except TemplateError as exc:
                raise ctx.error(f"The prompt cannot be filled: {exc}.", at=at) from exc
            prompts.append(Prompt(label or source, template))
    if not prompts:
        raise ctx.error("'prompts' is empty; add a prompt or remove the key.", at="prompts")
    return prompts


def _prompt_templates(source: str, ctx: Context, at: str) -> list[str | ChatTemplate]:
    if not is_ref(source):
        return [_inline_chat(source) or source]
    text, suffix = read_ref(source, ctx, label=None, at=at)
    if suffix in (".txt", ".md"):
        # promptfoo reads several prompts from one text file, separated by a '---' line.
        return [part.strip() for part in re.split(r"^-{3,}\s*$", text, flags=re.M) if part.strip()]
    parsed = ref_data(source, ctx, label=None, at=at)
    chat = as_chat(parsed)
    if chat is not None:
        return [chat]
    if isinstance(parsed, str):
        return [parsed]
    raise ctx.error(
        f"The prompt file {source!r} must hold text or a chat (a list of "
        "{role, content} messages).",
        at=at,
    )


def as_chat(value: Any) -> ChatTemplate | None:
    """``value`` as a chat template when it is a list of {role, content} messages."""
    if not isinstance(value, list) or not value:
        return None
    messages = []
    for message in value:
        if not (
            isinstance(message, dict)
            and message.get("role") in _ROLES
            and isinstance(message.get("content"), str)
        ):
            return None
        messages.append((str(message["role"]), str(message["content"])))
    return tuple(messages)


def _inline_chat(source: str) -> ChatTemplate | None:
    if not source.lstrip().startswith("["):
        return None
    try:
        return as_chat(json.loads(source))
    except (ValueError, RecursionError):
        return None


def select_prompts(
    prompts: list[Prompt], wanted: Any, ctx: Context, *, label: str, at: str
) -> list[tuple[int, Prompt]]:
    """The (1-based index, prompt) pairs a test runs: all, or those its ``prompts`` name."""
    numbered = list(enumerate(prompts, 1))
    if wanted is None:
        return numbered
    names = [wanted] if isinstance(wanted, str) else wanted
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ctx.error(
            "A test's 'prompts' must be a list of prompt labels.", case=label, at=f"{at}.prompts"
        )

    def chosen(prompt: Prompt) -> bool:
        return any(
            prompt.label == n or (n.endswith("*") and prompt.label.startswith(n[:-1]))
            for n in names
        )

    selected = [(i, p) for i, p in numbered if chosen(p)]
    if not selected:
        raise ctx.error(
            "None of the file's prompts has one of these labels; fix the labels.",
            case=label,
            at=f"{at}.prompts",
        )
    return selected


def fill_prompt(
    prompt: Prompt,
    values: dict[str, Any],
    options: dict[str, Any],
    missing: set[str],
    ctx: Context,
    *,
    label: str,
    at: str,
) -> str | list[dict[str, str]]:
    """The case input: the prompt filled with ``values`` (a conversation for chats)."""
    try:
        if isinstance(prompt.template, str):
            prefix, suffix = options.get("prefix", ""), options.get("suffix", "")
            filled = render_template(prompt.template, values, missing)
            return as_text(prefix) + filled + as_text(suffix)
        return [
            {"role": role, "content": render_template(content, values, missing)}
            for role, content in prompt.template
        ]
    except TemplateError as exc:
        raise ctx.error(f"The prompt cannot be filled: {exc}.", case=label, at=at) from exc


def input_var(
    values: dict[str, Any], options: dict[str, Any], ctx: Context, *, label: str, at: str
) -> str | list[dict[str, str]]:
    """The case input when the file has no prompts: the ``input`` var, else the only var."""
    if "input" in values:
        value = values["input"]
    elif len(values) == 1:
        value = next(iter(values.values()))
    else:
        raise ctx.error(
            f"The test has no prompt to fill: the file has no 'prompts' and its "
            f"{len(values)} vars include no 'input'; add 'prompts' or an 'input' "
            "var.",
            case=label,
            at=f"{at}.vars",
        )
    chat = as_chat(value)
    if chat is not None:
        return [{"role": role, "content": content} for role, content in chat]
    return as_text(options.get("prefix", "")) + as_text(value) + as_text(options.get("suffix", ""))
