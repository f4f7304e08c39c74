"""Per-job options from form fields or query parameters, validated with errors that name the field."""

from __future__ import annotations

import re
from collections.abc import Mapping

from proto.events import JobOptions
from services.common.pdf import DocumentError, select_pages
from services.gateway.errors import ApiError

_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d*)\s*)?$")

LIMITS = {
    "longest_side": (256, 4096),
    "dpi": (36.0, 600.0),
}


def parse_options(fields: Mapping[str, str]) -> JobOptions:
    errors: list[dict[str, str]] = []

    def number(name: str, kind: type) -> float | int | None:
        raw = (fields.get(name) or "").strip()
        if not raw:
            return None
        try:
            value = kind(raw)
        except ValueError:
            errors.append(
                {"field": name, "message": f"{raw!r} is not a {'whole ' if kind is int else ''}number"}
            )
            return None
        low, high = LIMITS[name]
        if not low <= value <= high:
            errors.append({"field": name, "message": f"must be between {low} and {high}"})
            return None
        return value

    def text(name: str, max_len: int) -> str | None:
        raw = (fields.get(name) or "").strip()
        if len(raw) > max_len:
            errors.append({"field": name, "message": f"longer than {max_len} characters"})
            return None
        return raw or None

    first_page = last_page = None
    pages = (fields.get("pages") or "").strip()
    if pages:
        match = _RANGE.match(pages)
        if not match:
            errors.append({"field": "pages", "message": "use a page or a range: '5', '3-10' or '4-'"})
        else:
            first_page = int(match.group(1))
            last_page = int(match.group(2)) if match.group(2) else (None if "-" in pages else first_page)
            if first_page < 1 or (last_page is not None and last_page < first_page):
                errors.append(
                    {"field": "pages", "message": "pages start at 1 and a range must not run backwards"}
                )
    options = JobOptions(
        model=text("model", 200),
        prompt=text("prompt", 8000),
        longest_side=number("longest_side", int),  # type: ignore[arg-type]
        dpi=number("dpi", float),
        first_page=first_page,
        last_page=last_page,
    )
    if errors:
        raise ApiError(
            422, "invalid_options", "; ".join(f"{e['field']}: {e['message']}" for e in errors), details=errors
        )
    return options


def check_page_range(options: JobOptions, page_count: int, max_pages: int) -> int:
    """Pages the job will process, by the splitter's own rule; 422 when the range is empty or too long."""
    try:
        return len(select_pages(page_count, options.first_page, options.last_page, max_pages))
    except DocumentError as exc:
        if exc.code == "too_many_pages":
            raise ApiError(422, "too_many_pages", exc.message) from exc
        raise ApiError(
            422,
            "invalid_options",
            f"pages: {exc.message}",
            details=[{"field": "pages", "message": f"the document has {page_count} pages"}],
        ) from exc
