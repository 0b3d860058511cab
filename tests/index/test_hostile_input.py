"""Any bytes, under any supported name, give articles or one clear error naming the file
(property tests with hypothesis): never a traceback, and never a crash of the whole run."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st
from llama_index.core import Document

from index.load import SUFFIXES, Skipped, iter_articles
from rag.errors import InputError
from rag.settings import load_settings

_QUICK = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_SETTINGS = load_settings(data_dir=Path(tempfile.gettempdir()) / "newsrag-hostile", corpus="hostile")

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=12,
)
_FIELDS = st.fixed_dictionaries({}, optional={
    key: _JSON | st.text(max_size=200)
    for key in ("id", "url", "title", "source", "published", "authors", "text", "body", "date", "link")
})


def _read(name: str, data: bytes) -> list[object]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        items = list(iter_articles([path], _SETTINGS))
        for item in items:
            assert isinstance(item, (Document, InputError, Skipped)), item
            if isinstance(item, InputError):
                assert item.path == str(path) and item.message  # names the file, says what is wrong
        return items


@_QUICK
@given(suffix=st.sampled_from(sorted(SUFFIXES)), data=st.binary(max_size=3000))
def test_any_bytes_under_any_supported_name(suffix: str, data: bytes) -> None:
    _read(f"input{suffix}", data)


@_QUICK
@given(suffix=st.sampled_from([".txt", ".md", ".html"]), text=st.text(max_size=2000))
def test_any_text(suffix: str, text: str) -> None:
    _read(f"input{suffix}", text.encode("utf-8", "surrogatepass"))


@_QUICK
@given(records=st.lists(_FIELDS | _JSON, max_size=6))
def test_any_json_lines(records: list[object]) -> None:
    lines = [json.dumps(r) for r in records]
    items = _read("input.jsonl", ("\n".join(lines) + "\n").encode())
    # One outcome per non-blank line at most, each error with its line number.
    for item in items:
        if isinstance(item, InputError):
            assert item.line is None or 1 <= item.line <= len(lines)


@_QUICK
@given(data=st.binary(min_size=5, max_size=2000))
def test_pdf_lookalikes(data: bytes) -> None:
    # Bytes that start as a PDF does reach pypdf's parser rather than the header check.
    _read("input.pdf", b"%PDF-1.4\n" + data)


def _small_pdf() -> bytes:
    import io

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_metadata({"/Title": "Flood report", "/Author": "Desk"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


_PDF = _small_pdf()


@_QUICK
@given(edits=st.lists(st.tuples(st.integers(0, len(_PDF) - 1), st.binary(min_size=1, max_size=8)), max_size=6),
       cut=st.integers(10, len(_PDF)))
def test_damaged_pdfs(edits: list[tuple[int, bytes]], cut: int) -> None:
    data = bytearray(_PDF[:cut])
    for at, new in edits:
        data[at : at + len(new)] = new
    _read("input.pdf", bytes(data))
