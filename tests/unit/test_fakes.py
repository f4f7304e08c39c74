"""Tests of the test fakes themselves: page code, generated PDFs, fake model.

Why: every end-to-end test and the benchmark trust these fakes to prove that
a page's own image reached the model. If the page code misread a page, or the
fake server miscounted concurrency, those tests would pass or fail for the
wrong reason -- so the fakes are checked here against real pypdfium2
renders and a real server subprocess, without mocks.
"""

from __future__ import annotations

import asyncio
import base64
import io
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from fpdf import FPDF
from PIL import Image

from tests.fakes.fake_model import (
    NO_CODE_TEXT,
    REPEAT_PHRASE,
    FakeModelProcess,
    build_chat_payload,
    page_markdown,
)
from tests.fakes.pagecode import (
    decode_code,
    decode_code_bytes,
    decode_page_id,
    draw_code,
    encode_page_id,
)
from tests.fakes.pdfs import (
    expected_page_text,
    make_coded_pdf,
    make_text_pdf,
    render_page,
)

FORMATS = ("A4", "Letter-landscape", "A4-landscape", "Letter")
SIZES = (600, 800, 1288, 2000, 3000)
ENCODINGS = (("JPEG", 75), ("JPEG", 95), ("PNG", 0))


# --------------------------------------------------------------------------- page code


def test_page_id_roundtrip() -> None:
    for doc_id, page_no in [(0, 0), (1, 1), (12, 3), (65535, 65535), (1, 10)]:
        assert decode_page_id(encode_page_id(doc_id, page_no)) == (doc_id, page_no)
    with pytest.raises(ValueError):
        encode_page_id(65536, 1)
    with pytest.raises(ValueError):
        encode_page_id(1, -1)


@pytest.fixture(scope="module")
def coded_pdfs() -> dict[str, bytes]:
    return {fmt: make_coded_pdf(3, 12, page_format=fmt) for fmt in FORMATS}


def _render(pdf: bytes, index: int, longest_side: int) -> Image.Image:
    """Render once with pypdfium2 (the encodings below reuse the bitmap)."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf)
    try:
        page = doc[index]
        width, height = page.get_size()
        image: Image.Image = page.render(scale=longest_side / max(width, height)).to_pil().convert("RGB")
        page.close()
        return image
    finally:
        doc.close()


def _encode(image: Image.Image, fmt: str, quality: int) -> bytes:
    out = io.BytesIO()
    if fmt == "PNG":
        image.save(out, format="PNG", compress_level=1)
    else:
        image.save(out, format=fmt, quality=quality)
    return out.getvalue()


@pytest.mark.parametrize("page_format", FORMATS)
def test_code_roundtrip_through_pdfium(coded_pdfs: dict[str, bytes], page_format: str) -> None:
    """Page 10 of doc 3 decodes at every size and encoding, via both decode paths."""
    want = encode_page_id(3, 10)
    for size in SIZES:
        rendered = _render(coded_pdfs[page_format], 9, size)
        assert max(rendered.size) == size
        for fmt, quality in ENCODINGS:
            data = _encode(rendered, fmt, quality)
            assert decode_code_bytes(data) == want, (page_format, size, fmt, quality)
            if fmt == "JPEG":  # the fast path above used a prefix; check the full decode too
                with Image.open(io.BytesIO(data)) as image:
                    assert decode_code(image) == want, ("full decode", page_format, size, fmt, quality)


def test_code_roundtrip_webp_and_every_page(coded_pdfs: dict[str, bytes]) -> None:
    pdf = coded_pdfs["A4"]
    for index in range(0, 12, 3):
        data = render_page(pdf, index, longest_side=1000, image_format="WEBP", quality=80)
        value = decode_code_bytes(data)
        assert value is not None and decode_page_id(value) == (3, index + 1)


@pytest.mark.parametrize("value", [0, 0xFFFFFFFF, 0xAAAAAAAA, 0x55555555, 0x12345678])
def test_extreme_values(value: int) -> None:
    pdf = FPDF(format="letter", orientation="L")
    pdf.add_page()
    draw_code(pdf, value)
    data = bytes(pdf.output())
    for size in (700, 1600):
        assert (
            decode_code_bytes(render_page(data, 0, longest_side=size, image_format="JPEG", quality=75))
            == value
        )


def test_image_pages_decode() -> None:
    pdf = make_coded_pdf(42, 3, kind="image", page_format="Letter")
    for index in range(3):
        data = render_page(pdf, index, longest_side=1288, image_format="JPEG", quality=80)
        assert len(data) > 150_000  # image-heavy, as intended
        value = decode_code_bytes(data)
        assert value is not None and decode_page_id(value) == (42, index + 1)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _jpeg(image: Image.Image, quality: int = 85) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=quality)
    return out.getvalue()


def test_no_code_on_plain_pages() -> None:
    text_pdf = make_text_pdf(["Hello pagewise", "The quick brown fox", "jumps over 13 lazy dogs"])
    for fmt in ("JPEG", "PNG"):
        assert decode_code_bytes(render_page(text_pdf, 0, longest_side=1288, image_format=fmt)) is None
    for colour in (0, 128, 255):
        blank = Image.new("L", (911, 1288), colour)
        assert decode_code(blank) is None
        assert decode_code_bytes(_jpeg(blank)) is None
    rng = np.random.default_rng(7)
    for _ in range(30):
        noise = Image.fromarray(rng.integers(0, 256, size=(600, 424, 3), dtype=np.uint8), "RGB")
        assert decode_code(noise) is None
        # Hard case: black/white blocks at roughly the cell scale.
        blocks = rng.integers(0, 2, size=(40, 28), dtype=np.uint8) * 255
        blocky = Image.fromarray(blocks, "L").resize((560, 800), Image.Resampling.NEAREST)
        assert decode_code_bytes(_png(blocky)) is None


def test_top_cropped_page_has_no_code(coded_pdfs: dict[str, bytes]) -> None:
    data = render_page(coded_pdfs["A4"], 0, longest_side=1288, image_format="PNG")
    with Image.open(io.BytesIO(data)) as image:
        cropped = image.crop((0, 100, image.width, image.height))
    assert decode_code(cropped) is None


# --------------------------------------------------------------------------- PDFs


def test_expected_texts_are_never_substrings() -> None:
    texts = [expected_page_text(doc, page) for doc in (1, 2, 12, 65535) for page in range(1, 121)]
    assert len(set(texts)) == len(texts)
    for a in texts:
        for b in texts:
            assert a == b or a not in b
    assert expected_page_text(1, 1) not in expected_page_text(1, 10)
    assert expected_page_text(1, 1) not in expected_page_text(11, 1)


def test_pdfs_are_deterministic() -> None:
    first = make_coded_pdf(5, 100)
    assert make_coded_pdf(5, 100) == first
    assert make_coded_pdf(5, 2, kind="image") == make_coded_pdf(5, 2, kind="image")
    assert make_coded_pdf(6, 100) != first
    assert make_text_pdf(["a", "b"]) == make_text_pdf(["a", "b"])
    with pytest.raises(ValueError):
        make_coded_pdf(1, 1, page_format="B7")
    with pytest.raises(ValueError):
        make_coded_pdf(1, 1, kind="video")


def test_page_count_and_heading() -> None:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(make_coded_pdf(77, 4, page_format="A4-landscape"))
    try:
        assert len(doc) == 4
        page = doc[1]
        width, height = page.get_size()
        assert width > height
        text = page.get_textpage().get_text_range()
        assert expected_page_text(77, 2) in text
    finally:
        doc.close()


# --------------------------------------------------------------------------- fake model


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeModelProcess]:
    with FakeModelProcess(max_concurrency=2, latency=0.3, jitter=0.0) as server:
        yield server


@pytest.fixture(scope="module")
def pages() -> list[bytes]:
    pdf = make_coded_pdf(8, 12)
    return [render_page(pdf, i, longest_side=1288, image_format="JPEG", quality=85) for i in range(12)]


@pytest.fixture(autouse=False)
def baseline(fake: FakeModelProcess) -> FakeModelProcess:
    fake.configure(
        latency=0.3,
        jitter=0.0,
        max_concurrency=2,
        error_rate=0.0,
        timeout_rate=0.0,
        timeout_seconds=120.0,
        length_rate=0.0,
        repeat_rate=0.0,
        healthy=True,
    )
    fake.reset()
    return fake


async def _post_all(url: str, payloads: list[dict[str, Any]]) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=10.0, limits=httpx.Limits(max_connections=len(payloads))) as client:
        return list(await asyncio.gather(*(client.post(f"{url}/chat/completions", json=p) for p in payloads)))


def _content(response: httpx.Response) -> str:
    return str(response.json()["choices"][0]["message"]["content"])


def test_concurrency_limit_and_answers(baseline: FakeModelProcess, pages: list[bytes]) -> None:
    fake = baseline
    payloads = [build_chat_payload(pages[i], model="my-model") for i in range(5)]
    responses = asyncio.run(_post_all(fake.url, payloads))
    rejected = [r for r in responses if r.status_code == 429]
    ok = [(i, r) for i, r in enumerate(responses) if r.status_code == 200]
    assert len(rejected) == 3 and len(ok) == 2
    for r in rejected:
        assert r.headers["retry-after"] == "1"
        assert r.json()["error"]["code"] == 429
    for index, r in ok:
        body = r.json()
        assert body["model"] == "my-model"
        assert body["choices"][0]["finish_reason"] == "stop"
        assert _content(r) == page_markdown(8, index + 1)
        assert expected_page_text(8, index + 1) in _content(r)
    stats = fake.stats()
    assert stats["peak_in_flight"] == 2
    assert stats["in_flight"] == 0
    assert stats["requests_total"] == 5
    assert stats["rejected_429"] == 3
    assert stats["completed"] == 2
    assert sum(stats["by_page"].values()) == 2
    # accounting, not speed: two calls of at least 0.3 s each were in flight, never more than two
    assert 0 < stats["mean_in_flight"] <= 2.0 + 1e-9
    assert stats["busy_seconds"] >= 0.25


def test_error_rate_gives_500(baseline: FakeModelProcess, pages: list[bytes]) -> None:
    baseline.configure(error_rate=1.0, latency=0.05)
    response = httpx.post(f"{baseline.url}/chat/completions", json=build_chat_payload(pages[0]), timeout=5)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == 500
    assert baseline.stats()["errors_500"] == 1


def test_timeout_rate_gives_504(baseline: FakeModelProcess, pages: list[bytes]) -> None:
    baseline.configure(timeout_rate=1.0, timeout_seconds=0.2)
    response = httpx.post(f"{baseline.url}/chat/completions", json=build_chat_payload(pages[0]), timeout=5)
    assert response.status_code == 504
    assert baseline.stats()["timeouts"] == 1


def test_length_and_repeat(baseline: FakeModelProcess, pages: list[bytes]) -> None:
    baseline.configure(length_rate=1.0, latency=0.0)
    response = httpx.post(f"{baseline.url}/chat/completions", json=build_chat_payload(pages[2]), timeout=5)
    assert response.json()["choices"][0]["finish_reason"] == "length"
    assert expected_page_text(8, 3) not in _content(response)
    baseline.configure(length_rate=0.0, repeat_rate=1.0)
    response = httpx.post(f"{baseline.url}/chat/completions", json=build_chat_payload(pages[2]), timeout=5)
    assert response.json()["choices"][0]["finish_reason"] == "stop"
    assert _content(response).count(REPEAT_PHRASE) >= 200
    stats = baseline.stats()
    assert stats["truncated_length"] == 1 and stats["repeated"] == 1


def test_page_without_code(baseline: FakeModelProcess) -> None:
    baseline.configure(latency=0.0)
    image = render_page(make_text_pdf(["no code here"]), 0, image_format="PNG")
    response = httpx.post(
        f"{baseline.url}/chat/completions", json=build_chat_payload(image, mime="image/png"), timeout=5
    )
    assert response.status_code == 200
    assert _content(response) == NO_CODE_TEXT
    assert baseline.stats()["no_code"] == 1


def test_malformed_requests_get_400(baseline: FakeModelProcess) -> None:
    url = f"{baseline.url}/chat/completions"
    no_image = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}
    bad_b64 = {
        "model": "m",
        "messages": [
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,%%%"}}],
            }
        ],
    }
    not_an_image = build_chat_payload(b"this is not an image at all" * 10)
    for body in (no_image, bad_b64, not_an_image):
        response = httpx.post(url, json=body, timeout=5)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == 400
    assert httpx.post(url, content=b"{not json", timeout=5).status_code == 400
    assert baseline.stats()["bad_requests"] == 4
    assert baseline.stats()["in_flight"] == 0


def test_disconnect_frees_the_slot(baseline: FakeModelProcess, pages: list[bytes]) -> None:
    baseline.configure(latency=3.0)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{baseline.url}/chat/completions", json=build_chat_payload(pages[0]), timeout=0.4)
    deadline = time.monotonic() + 2
    while baseline.stats()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.02)
    stats = baseline.stats()
    assert stats["in_flight"] == 0
    assert stats["disconnected"] == 1
    assert stats["completed"] == 0


def test_models_health_config(baseline: FakeModelProcess) -> None:
    models = httpx.get(f"{baseline.url}/models", timeout=5).json()
    assert models["object"] == "list"
    assert models["data"][0]["id"] == "qwen3-vl-fake"
    assert models["data"][0]["object"] == "model"
    assert httpx.get(f"{baseline.base_url}/health", timeout=5).status_code == 200
    config = baseline.configure(healthy=False)
    assert config["healthy"] is False
    assert httpx.get(f"{baseline.base_url}/health", timeout=5).status_code == 503
    bad = httpx.post(f"{baseline.base_url}/config", json={"error_rate": 2}, timeout=5)
    assert bad.status_code == 400
    bad = httpx.post(f"{baseline.base_url}/config", json={"nonsense": 1}, timeout=5)
    assert bad.status_code == 400


def test_payload_helper_round_trips() -> None:
    payload = build_chat_payload(b"\x00\x01", mime="image/png")
    url = payload["messages"][0]["content"][0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == b"\x00\x01"
