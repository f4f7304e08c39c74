"""Pure pieces, tested without servers."""

from __future__ import annotations

import random
from pathlib import Path

import msgspec
import pytest

from proto import events, subjects
from proto.events import JobOptions, PageRecognized
from services.assembler.assemble import PageResult, assemble
from services.common.pdf import DocumentError, open_document, select_pages
from services.common.pull import backoff_delay
from services.common.settings import SettingsError, load_settings
from services.gateway.errors import ApiError
from services.gateway.options import check_page_range, parse_options
from services.ocr.markdown import is_repetition_loop, strip_fence
from services.ocr.settings import OcrSettings
from services.splitter.render import RenderOptions, render_page, render_scale
from tests import pdf_samples
from tests.fakes.pdfs import make_coded_pdf


# ---- splitter ---------------------------------------------------------------------------------------------
def test_longest_side_sets_the_scale_for_portrait_and_landscape():
    a4 = (595.0, 842.0)
    assert round(842 * render_scale(*a4, RenderOptions(longest_side=1288))) == 1288
    assert round(842 * render_scale(842.0, 595.0, RenderOptions(longest_side=1288))) == 1288


def test_hostile_page_size_is_capped_by_the_pixel_budget():
    huge = (14400.0, 14400.0)  # 200 × 200 inches
    options = RenderOptions(dpi=300, max_pixels=4_000_000)
    scale = render_scale(*huge, options)
    assert (huge[0] * scale) * (huge[1] * scale) <= 4_000_000 * 1.0001


def test_select_pages_clips_and_limits():
    assert select_pages(10, None, None, 100) == list(range(1, 11))
    assert select_pages(10, 8, 20, 100) == [8, 9, 10]
    with pytest.raises(DocumentError) as too_many:
        select_pages(10, None, None, 5)
    assert too_many.value.code == "too_many_pages"
    with pytest.raises(DocumentError) as empty:
        select_pages(3, 5, None, 100)
    assert empty.value.code == "empty_range"


@pytest.mark.parametrize("fmt,magic", [("jpeg", b"\xff\xd8"), ("png", b"\x89PNG"), ("webp", b"RIFF")])
def test_render_page_produces_the_asked_format_at_the_asked_size(tmp_path: Path, fmt: str, magic: bytes):
    path = tmp_path / "doc.pdf"
    path.write_bytes(make_coded_pdf(1, 2))
    doc = open_document(path)
    try:
        page = render_page(doc, 2, RenderOptions(longest_side=1000, image_format=fmt))
    finally:
        doc.close()
    assert page.data.startswith(magic)
    assert max(page.width, page.height) == 1000


@pytest.mark.parametrize(
    "maker,code",
    [
        (pdf_samples.encrypted_pdf, "encrypted"),
        (pdf_samples.zero_page_pdf, "no_pages"),
        (pdf_samples.truncated_pdf, "truncated"),
        (pdf_samples.garbage_pdf, "corrupt"),
        (lambda: b"GIF89a" + b"\x00" * 100, "not_pdf"),
    ],
)
def test_unusable_documents_fail_with_a_stable_code(tmp_path: Path, maker, code: str):
    path = tmp_path / "bad.pdf"
    path.write_bytes(maker())
    with pytest.raises(DocumentError) as err:
        open_document(path)
    assert err.value.code == code and err.value.message


def test_error_code_is_right_even_after_an_encrypted_file_failed_first(tmp_path: Path):
    """PDFium's last-error is sticky within a process; an empty document must not be called encrypted."""
    for name, maker, code in [
        ("a", pdf_samples.encrypted_pdf, "encrypted"),
        ("b", pdf_samples.zero_page_pdf, "no_pages"),
    ]:
        path = tmp_path / f"{name}.pdf"
        path.write_bytes(maker())
        with pytest.raises(DocumentError) as err:
            open_document(path)
        assert err.value.code == code


# ---- assembler --------------------------------------------------------------------------------------------
def test_assemble_orders_pages_and_marks_each():
    pages = [
        PageResult(3, "done", "three", None),
        PageResult(1, "done", "one", None),
        PageResult(2, "done", "two", None),
    ]
    outcome = assemble(pages, "placeholder")
    assert outcome.status == "completed"
    assert outcome.markdown.index("one") < outcome.markdown.index("two") < outcome.markdown.index("three")
    assert outcome.markdown.count("<!-- page ") == 3


def test_failed_page_policy():
    pages = [PageResult(1, "done", "one", None), PageResult(2, "failed", None, "model said 400")]
    placeholder = assemble(pages, "placeholder")
    assert (
        placeholder.status == "completed"
        and "page 2 could not be recognized: model said 400" in placeholder.markdown
    )
    fail = assemble(pages, "fail")
    assert fail.status == "failed" and "1 of 2 pages failed" in (fail.error or "")
    all_failed = assemble([PageResult(1, "failed", None, "boom")], "placeholder")
    assert all_failed.status == "failed" and "all pages failed" in (all_failed.error or "")


# ---- ocr --------------------------------------------------------------------------------------------------
def test_strip_fence_unwraps_a_whole_page_fence_only():
    assert strip_fence("```markdown\n# Title\n\ntext\n```") == "# Title\n\ntext"
    inner = "# Title\n\n```python\nprint(1)\n```\n\nafter"
    assert strip_fence(inner) == inner


def test_repetition_loop_detection():
    looping = "Some real text at the start. " + "the same phrase again " * 100
    assert is_repetition_loop(looping)
    rng = random.Random(1)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    prose = " ".join(rng.choice(words) for _ in range(600))
    assert not is_repetition_loop(prose)
    assert not is_repetition_loop("short")


def test_backoff_grows_and_is_capped():
    rng = random.Random(0)
    delays = [backoff_delay(n, base=1.0, cap=30.0, rng=rng) for n in range(1, 10)]
    assert all(0 < d <= 30.0 for d in delays)
    assert delays[4] > delays[0]


# ---- gateway ----------------------------------------------------------------------------------------------
def test_options_parse_and_validate():
    options = parse_options({"model": "qwen", "pages": "3-10", "longest_side": "1600", "dpi": ""})
    assert options == JobOptions(model="qwen", first_page=3, last_page=10, longest_side=1600)
    assert parse_options({"pages": "4-"}).first_page == 4 and parse_options({"pages": "4-"}).last_page is None
    assert parse_options({"pages": "7"}).last_page == 7
    with pytest.raises(ApiError) as err:
        parse_options({"longest_side": "10", "pages": "x", "dpi": "fast"})
    assert {d["field"] for d in err.value.extra_fields["details"]} == {"longest_side", "pages", "dpi"}


def test_page_range_is_checked_against_the_document():
    assert check_page_range(JobOptions(first_page=2, last_page=50), 10, 100) == 9
    with pytest.raises(ApiError):
        check_page_range(JobOptions(first_page=11), 10, 100)
    with pytest.raises(ApiError) as err:
        check_page_range(JobOptions(), 300, 100)
    assert err.value.code == "too_many_pages"


# ---- settings and contracts -------------------------------------------------------------------------------
def test_settings_come_from_the_environment_with_types():
    settings = load_settings(
        OcrSettings, {"OCR_MAX_IN_FLIGHT": "3", "MODEL_URL": "http://m/v1", "OCR_TIMEOUT": "2.5"}
    )
    assert (settings.ocr_max_in_flight, settings.model_url, settings.ocr_timeout) == (3, "http://m/v1", 2.5)
    with pytest.raises(SettingsError, match="ocr_max_in_flight"):
        load_settings(OcrSettings, {"OCR_MAX_IN_FLIGHT": "many"})


def test_events_round_trip_and_reject_wrong_shapes():
    event = PageRecognized(
        job_id="j", page_no=2, total_pages=3, markdown="# x", model="m", attempts=1, duration_ms=1.0
    )
    assert events.result_decoder.decode(events.encode(event)) == event
    with pytest.raises(msgspec.ValidationError):
        events.result_decoder.decode(b'{"type": "page.recognized", "job_id": "j"}')


def test_dedupe_ids_are_derived_from_content():
    assert subjects.page_msg_id("j", 3, "rendered") == subjects.page_msg_id("j", 3, "rendered")
    assert subjects.page_msg_id("j", 3, "rendered") != subjects.page_msg_id("j", 3, "result")
    assert subjects.job_event("j", "page").startswith(subjects.EVENTS)
