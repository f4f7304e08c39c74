"""Bad and odd PDFs for input-validation tests, generated in code."""

from __future__ import annotations

import io

import pypdfium2 as pdfium
from fpdf import FPDF
from fpdf.enums import EncryptionMethod


def text_pdf(pages: int = 1) -> bytes:
    pdf = FPDF()
    for i in range(pages):
        pdf.add_page()
        pdf.set_font("Helvetica", size=24)
        pdf.cell(text=f"sample page {i + 1}")
    return bytes(pdf.output())


def encrypted_pdf() -> bytes:
    pdf = FPDF()
    pdf.set_encryption(owner_password="owner", user_password="secret", encryption_method=EncryptionMethod.RC4)
    pdf.add_page()
    pdf.set_font("Helvetica", size=24)
    pdf.cell(text="top secret")
    return bytes(pdf.output())


def zero_page_pdf() -> bytes:
    doc = pdfium.PdfDocument.new()
    buf = io.BytesIO()
    doc.save(buf)
    doc.close()
    return buf.getvalue()


def truncated_pdf() -> bytes:
    data = text_pdf(3)
    return data[: len(data) // 2]


def garbage_pdf() -> bytes:
    """Has the header and the end marker but nothing readable in between."""
    return b"%PDF-1.7\n" + b"\x00garbage" * 200 + b"\n%%EOF\n"
