"""4. Rendering: render + encode cost per page, and bytes per page, against ``pdftoppm`` (poppler).

Each page is rendered once with pypdfium2 exactly as the splitter does it, then encoded in every candidate
format from the same bitmap, so render and encode costs are measured apart: encoding, not rendering, is what
the format choice changes. ``pdftoppm`` renders and encodes the same pages at the same size (``-scale-to``)
in one process per format; its time per page includes both (and its start-up, spread over the pages).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image

from bench.config import BenchConfig
from bench.documents import coded_pdfs
from bench.harness import BenchEnv
from bench.report import Figure, ScenarioResult
from bench.stats import percentile
from services.splitter.render import RenderOptions, encode_image, render_scale

TITLE = "render + encode per page (pypdfium2 + Pillow) against pdftoppm"


@dataclass(frozen=True)
class Variant:
    name: str
    options: RenderOptions | None = None  # the splitter's own encoder, as RENDER_FORMAT/QUALITY would set it
    pil: tuple[str, dict[str, object]] | None = None  # other Pillow settings worth knowing about
    gray: bool = False


DEFAULT = "jpeg q90 (default)"
VARIANTS = (
    Variant(DEFAULT, RenderOptions(image_format="jpeg", jpeg_quality=90)),
    Variant("jpeg q80", RenderOptions(image_format="jpeg", jpeg_quality=80)),
    Variant("jpeg q90 grayscale", pil=("JPEG", {"quality": 90}), gray=True),
    Variant("png level 1 (RENDER_FORMAT=png)", RenderOptions(image_format="png")),
    Variant("png level 6 (Pillow default)", pil=("PNG", {"compress_level": 6})),
    Variant("webp q90 (RENDER_FORMAT=webp)", RenderOptions(image_format="webp", jpeg_quality=90)),
    Variant("webp q80 method 0", pil=("WEBP", {"quality": 80, "method": 0})),
)
PDFTOPPM = {DEFAULT: ["-jpeg", "-jpegopt", "quality=90"], "png level 1 (RENDER_FORMAT=png)": ["-png"]}


def encode(variant: Variant, image: Image.Image) -> bytes:
    if variant.options is not None:
        return encode_image(image, variant.options).data
    assert variant.pil is not None
    buf = io.BytesIO()
    fmt, params = variant.pil
    (image.convert("L") if variant.gray else image).save(buf, fmt, **params)
    return buf.getvalue()


def measure_pagewise(pdf: bytes, pages: int, side: int) -> dict[str, dict[str, float]]:
    """Per variant: median render ms, median encode ms and mean bytes per page."""
    doc = pdfium.PdfDocument(pdf)
    render_ms: list[float] = []
    encode_ms: dict[str, list[float]] = {v.name: [] for v in VARIANTS}
    sizes: dict[str, list[int]] = {v.name: [] for v in VARIANTS}
    try:
        for index in range(min(pages, len(doc))):
            started = time.perf_counter()
            page = doc[index]
            width, height = page.get_size()
            bitmap = page.render(
                scale=render_scale(width, height, RenderOptions(longest_side=side)), may_draw_forms=True
            )
            image = bitmap.to_pil()
            render_ms.append(1e3 * (time.perf_counter() - started))
            for variant in VARIANTS:
                started = time.perf_counter()
                data = encode(variant, image)
                encode_ms[variant.name].append(1e3 * (time.perf_counter() - started))
                sizes[variant.name].append(len(data))
            bitmap.close()
            page.close()
    finally:
        doc.close()
    render = percentile(render_ms, 50)
    return {
        v.name: {
            "render_ms": render,
            "encode_ms": percentile(encode_ms[v.name], 50),
            "total_ms": render + percentile(encode_ms[v.name], 50),
            "bytes": sum(sizes[v.name]) / len(sizes[v.name]),
        }
        for v in VARIANTS
    }


def measure_pdftoppm(pdf: bytes, pages: int, side: int, args: list[str]) -> dict[str, float] | None:
    binary = shutil.which("pdftoppm")
    if binary is None:
        return None
    with tempfile.TemporaryDirectory(prefix="pagewise-bench-ppm-") as tmp:
        source = Path(tmp) / "in.pdf"
        source.write_bytes(pdf)
        started = time.perf_counter()
        subprocess.run(
            [binary, "-scale-to", str(side), "-f", "1", "-l", str(pages), *args, str(source), f"{tmp}/out"],
            check=True,
        )
        seconds = time.perf_counter() - started
        outputs = [p for p in Path(tmp).iterdir() if p.name.startswith("out")]
        return {
            "total_ms": 1e3 * seconds / len(outputs),
            "bytes": sum(p.stat().st_size for p in outputs) / len(outputs),
        }


def run(env: BenchEnv, config: BenchConfig) -> ScenarioResult:
    result = ScenarioResult("render", TITLE)
    n, side = config.render_pages, config.longest_side
    details: dict[str, object] = {"pages_per_document": n, "longest_side": side}
    for kind in ("text", "image"):
        pdf = coded_pdfs(4000 if kind == "text" else 4100, 1, n, kind=kind)[0]
        ours = measure_pagewise(pdf, n, side)
        theirs = {name: measure_pdftoppm(pdf, n, side, args) for name, args in PDFTOPPM.items()}
        details[kind] = {"pagewise": ours, "pdftoppm": theirs}
        default = ours[DEFAULT]
        result.add(
            Figure(f"{kind}: render (pdfium → bitmap)", default["render_ms"], "ms/page"),
            Figure(f"{kind}: encode jpeg q90", default["encode_ms"], "ms/page"),
            Figure(f"{kind}: bytes jpeg q90", default["bytes"] / 1024, "KiB/page"),
        )
        for name, ppm in theirs.items():
            if ppm is None:
                result.notes.append("pdftoppm not found: apt-get install poppler-utils")
                continue
            label = "jpeg q90" if name == DEFAULT else "png"
            ratio = ours[name]["total_ms"] / ppm["total_ms"]
            result.add(
                Figure(f"{kind}: {label} pagewise / pdftoppm time", ratio, "×",
                       f"<= 1 ({ours[name]['total_ms']:.0f} vs {ppm['total_ms']:.0f} ms)", ratio <= 1.0, 2),
            )  # fmt: skip
    details["choice"] = choose(details)
    result.details = details
    result.notes.append(str(details["choice"]))
    return result


def choose(details: dict[str, object]) -> str:
    """Among the settings the splitter offers (RENDER_FORMAT, RENDER_JPEG_QUALITY), name the cheapest per page
    (render + encode) whose bytes stay within 1.5× of the smallest: bytes cost again at every hop."""
    offered = {v.name for v in VARIANTS if v.options is not None}
    lines = []
    for kind in ("text", "image"):
        ours = {k: v for k, v in details[kind]["pagewise"].items() if k in offered}  # type: ignore[index]
        smallest = min(v["bytes"] for v in ours.values())
        fit = {k: v for k, v in ours.items() if v["bytes"] <= 1.5 * smallest}
        best = min(fit, key=lambda k: fit[k]["total_ms"])
        lines.append(f"{kind}: {best} ({fit[best]['total_ms']:.0f} ms, {fit[best]['bytes'] / 1024:.0f} KiB)")
    return "splitter setting with the least time within 1.5× of the fewest bytes: " + "; ".join(lines)
