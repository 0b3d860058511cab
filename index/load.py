"""Read article files into llama-index ``Document`` objects.

Formats: JSONL (one article per line), ``.txt``, ``.md``, ``.html``/``.htm``,
``.pdf``, and directories of these (recursively). Every problem is reported as
an :class:`~rag.errors.InputError` naming the file and, where there is one, the
line; the caller decides what to do and the other articles are still read.

Each Document's ``id_`` is the article's identity key: a hash of its URL, or of
its path (plus record id or line) when it has no URL, so that re-ingesting the
same article replaces it instead of adding a copy.
"""

from __future__ import annotations

import hashlib
from importlib import resources
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from llama_index.core import Document

from rag.errors import InputError
from rag.settings import Settings

FIELDS = ("id", "url", "title", "source", "published", "authors", "text")
# Names other exports commonly use, tried when our own name is absent.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("article_id", "doc_id", "uuid"),
    "url": ("link", "href", "canonical_url"),
    "title": ("headline", "name"),
    "source": ("outlet", "site", "domain", "publisher"),
    "published": ("date", "published_at", "publish_date", "pubdate", "datetime"),
    "authors": ("author", "byline"),
    "text": ("content", "body", "article", "maintext"),
}
_TEXT_HEADER = re.compile(r"\A\s*date\s+(\d{4}-\d{2}-\d{2})\b[ \t]*\n?")
_KEY_HEADER = re.compile(r"\A(title|url|source)\s*:\s*(.+)\n", re.IGNORECASE)
_BINARY_PROBE = 8192


@dataclass(frozen=True)
class Skipped:
    """A file met while walking a directory that is not an article format."""

    path: str
    reason: str


LoadItem = Document | InputError | Skipped


def sample_dir() -> Path:
    """The bundled sample corpus (one news article)."""
    return Path(str(resources.files("index") / "sample"))


def article_key(url: str | None, fallback: str) -> str:
    """Identity of an article: its URL, or ``fallback`` (a path) when it has none."""
    basis = url.strip() if url and url.strip() else f"path:{fallback}"
    return hashlib.sha1(basis.encode("utf-8")).hexdigest()[:20]


def iter_articles(paths: Iterable[Path | str], settings: Settings) -> Iterator[LoadItem]:
    """Yield a Document per article found under ``paths``, or the problem met.

    Files are read in sorted order so that runs over the same input are identical.
    """
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                rel = child.relative_to(path).parts
                if any(part.startswith(".") for part in rel):
                    continue
                if child.suffix.lower() not in SUFFIXES:
                    yield Skipped(str(child), f"not an article format ({child.suffix or 'no suffix'})")
                    continue
                yield from _iter_file(child, settings)
        elif path.is_file():
            if path.suffix.lower() not in SUFFIXES:
                yield InputError(
                    path,
                    f"unsupported file type '{path.suffix}'; known: {', '.join(sorted(SUFFIXES))}",
                )
            else:
                yield from _iter_file(path, settings)
        else:
            yield InputError(path, "no such file or directory")


def _iter_file(path: Path, settings: Settings) -> Iterator[LoadItem]:
    try:
        size = path.stat().st_size
        limit = int(settings.max_file_mb * 1024 * 1024)
        if size == 0:
            raise InputError(path, "empty file")
        if size > limit:
            raise InputError(
                path, f"file is {size / 2**20:.1f} MB, above max_file_mb={settings.max_file_mb}"
            )
        form = format_of(path)
        if form.records:
            yield from form.load(path, settings)
            return
        data = path.read_bytes()
        yield form.load(path, data if form.binary else _decode(path, data), settings)
    except InputError as err:
        yield err
    except OSError as exc:
        yield InputError(path, f"cannot read: {exc.strerror or exc}")


def _decode(path: Path, data: bytes, line: int | None = None) -> str:
    if b"\x00" in data[:_BINARY_PROBE]:
        raise InputError(path, "binary content (NUL bytes), not text", line=line)
    try:
        return data.decode("utf-8-sig" if line in (None, 1) else "utf-8")
    except UnicodeDecodeError as exc:
        bad_line = line if line is not None else data[: exc.start].count(b"\n") + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        raise InputError(
            path,
            f"not UTF-8 (byte 0x{data[exc.start]:02x} at column {column}); re-save the file as UTF-8",
            line=bad_line,
        ) from None


def _iter_jsonl(path: Path, settings: Settings) -> Iterator[LoadItem]:
    with path.open("rb") as fh:
        head = fh.read(_BINARY_PROBE)
        if b"\x00" in head:
            yield InputError(path, "binary content (NUL bytes), not JSON lines")
            return
        fh.seek(0)
        seen_any = False
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            seen_any = True
            try:
                if len(raw) > settings.max_article_chars * 4:
                    raise InputError(
                        path,
                        f"line of {len(raw):,} bytes is too long for max_article_chars="
                        f"{settings.max_article_chars:,}",
                        line=lineno,
                    )
                text = _decode(path, raw, line=lineno)
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise InputError(
                        path, f"malformed JSON: {exc.msg} at column {exc.colno}", line=lineno
                    ) from None
                if not isinstance(record, dict):
                    raise InputError(
                        path, f"expected a JSON object, got {type(record).__name__}", line=lineno
                    )
                yield _from_record(path, lineno, record, settings)
            except InputError as err:
                yield err
        if not seen_any:
            yield InputError(path, "empty file (only blank lines)")


def _field(record: dict[str, Any], name: str, settings: Settings) -> Any:
    mapped = settings.jsonl_fields.get(name)
    if mapped is not None:
        return record.get(mapped)
    if name in record:
        return record[name]
    for alias in FIELD_ALIASES[name]:
        if alias in record:
            return record[alias]
    return None


def _from_record(path: Path, lineno: int, record: dict[str, Any], settings: Settings) -> Document:
    text = _field(record, "text", settings)
    name = settings.jsonl_fields.get("text", "text")
    if not isinstance(text, str):
        raise InputError(
            path,
            f"field '{name}' is missing or not a string (set jsonl_fields to map your field names)",
            line=lineno,
        )
    rid = _field(record, "id", settings)
    url = _str_or_none(_field(record, "url", settings))
    authors = _field(record, "authors", settings)
    if isinstance(authors, str):
        authors = [authors]
    if authors is not None and not (
        isinstance(authors, list) and all(isinstance(a, str) for a in authors)
    ):
        raise InputError(path, "field 'authors' must be a list of strings", line=lineno)
    fallback = f"{path.resolve()}#{rid if rid is not None else lineno}"
    return _document(
        path=path,
        line=lineno,
        text=text,
        key=article_key(url, fallback),
        article_id=str(rid) if rid is not None else None,
        url=url,
        title=_str_or_none(_field(record, "title", settings)),
        source=_str_or_none(_field(record, "source", settings)),
        published=_parse_date(path, _field(record, "published", settings), lineno),
        authors=authors or [],
        settings=settings,
    )


def _load_txt(path: Path, text: str, settings: Settings) -> Document:
    published = None
    match = _TEXT_HEADER.match(text)
    if match:
        published = _parse_date(path, match.group(1), 1)
        text = text[match.end() :]
    headers: dict[str, str] = {}
    while m := _KEY_HEADER.match(text):
        headers[m.group(1).lower()] = m.group(2).strip()
        text = text[m.end() :]
    return _document(
        path=path,
        line=None,
        text=text,
        key=article_key(headers.get("url"), str(path.resolve())),
        article_id=None,
        url=headers.get("url"),
        title=headers.get("title"),
        source=headers.get("source"),
        published=published,
        authors=[],
        settings=settings,
    )


_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
_MD_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")


def _load_markdown(path: Path, text: str, settings: Settings) -> Document:
    meta: dict[str, Any] = {}
    fm = _FRONT_MATTER.match(text)
    if fm:
        import yaml

        try:
            loaded = yaml.safe_load(fm.group(1))
        except yaml.YAMLError as exc:
            line = getattr(getattr(exc, "problem_mark", None), "line", 0) + 2
            raise InputError(path, "malformed front matter", line=line) from None
        meta = loaded if isinstance(loaded, dict) else {}
        text = text[fm.end() :]
    heading = _MD_HEADING.search(text)
    title = meta.get("title") or (heading.group(1) if heading else None)
    plain = _MD_HEADING.sub(r"\1", text)
    plain = _MD_IMAGE.sub("", plain)
    plain = _MD_LINK.sub(r"\1", plain)
    plain = _MD_EMPHASIS.sub(r"\2", plain)
    url = _str_or_none(meta.get("url"))
    return _document(
        path=path,
        line=None,
        text=plain,
        key=article_key(url, str(path.resolve())),
        article_id=_str_or_none(meta.get("id")),
        url=url,
        title=_str_or_none(title),
        source=_str_or_none(meta.get("source")),
        published=_parse_date(path, meta.get("date") or meta.get("published"), 1),
        authors=[str(a) for a in meta.get("authors", [])] if isinstance(meta.get("authors"), list) else [],
        settings=settings,
    )


def _load_html(path: Path, html: str, settings: Settings) -> Document:
    return document_from_html(html, origin=path, fallback_key=str(path.resolve()), settings=settings)


def document_from_html(
    html: str, *, origin: Path | str, settings: Settings, url: str | None = None, fallback_key: str | None = None
) -> Document:
    """The article in a web page (trafilatura's main-text extraction and metadata).

    ``origin`` names the input in errors (a file, or the URL fetched); ``url``, when the
    page was fetched, is its address (the page's own canonical URL wins if it declares
    one); without either, the article is keyed by ``fallback_key``.
    """
    import trafilatura

    extracted = trafilatura.bare_extraction(
        html, url=url, with_metadata=True, include_comments=False, include_tables=True
    )
    if extracted is None or not (extracted.text or "").strip():
        raise InputError(origin, "no article text found in the HTML")
    page_url = _str_or_none(extracted.url) or url
    author = _str_or_none(extracted.author)
    return _document(
        path=origin,
        line=None,
        text=extracted.text,
        key=article_key(page_url, fallback_key or str(origin)),
        article_id=None,
        url=page_url,
        title=_str_or_none(extracted.title),
        source=_str_or_none(extracted.sitename) or _str_or_none(extracted.hostname),
        published=_parse_date(origin, extracted.date, None),
        authors=[a.strip() for a in author.split(";")] if author else [],
        settings=settings,
    )


def _load_pdf(path: Path, data: bytes, settings: Settings) -> Document:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise InputError(path, "encrypted PDF; decrypt it first")
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise InputError(path, f"malformed PDF ({exc})") from None
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise InputError(path, "PDF has no extractable text (scanned images need OCR)")
    created = info.creation_date if info is not None else None
    return _document(
        path=path,
        line=None,
        text=text,
        key=article_key(None, str(path.resolve())),
        article_id=None,
        url=None,
        title=_str_or_none(info.title if info is not None else None),
        source=None,
        published=created.date() if isinstance(created, datetime) else None,
        authors=[info.author] if info is not None and info.author else [],
        settings=settings,
    )


def _document(
    *,
    path: Path | str,
    line: int | None,
    text: str,
    key: str,
    article_id: str | None,
    url: str | None,
    title: str | None,
    source: str | None,
    published: date | None,
    authors: list[str],
    settings: Settings,
) -> Document:
    if not text.strip():
        raise InputError(path, "article has no text", line=line)
    if len(text) > settings.max_article_chars:
        raise InputError(
            path,
            f"article of {len(text):,} characters exceeds max_article_chars={settings.max_article_chars:,}",
            line=line,
        )
    if "\x00" in text:
        raise InputError(path, "article text contains NUL characters", line=line)
    if source is None and url:
        source = _domain(url)
    metadata: dict[str, Any] = {
        "article_id": article_id or key,
        "url": url or "",
        "title": title or _title_from_text(text, path),
        "source": source or "",
        "published": published.isoformat() if published else "",
        "authors": ", ".join(authors),
        "path": str(path),
        "line": line or 0,
    }
    return Document(id_=key, text=text, metadata=metadata)


def _title_from_text(text: str, path: Path | str) -> str:
    first = text.strip().split("\n", 1)[0]
    if len(first) <= 100:
        return first
    cut = first[:100].rsplit(" ", 1)[0]
    return f"{cut}…" if cut else (path.stem if isinstance(path, Path) else path)


def _domain(url: str) -> str:
    from urllib.parse import urlparse

    host = urlparse(url).hostname or ""
    return host.removeprefix("www.")


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _parse_date(path: Path | str, value: Any, line: int | None) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        pass
    try:
        from dateutil import parser as date_parser

        return date_parser.parse(text).date()
    except (ValueError, OverflowError):
        raise InputError(path, f"published date {text!r} is not a date (use YYYY-MM-DD)", line=line) from None


@dataclass(frozen=True)
class Format:
    """An article file format: the one table that loading, the chat's upload types and
    README's "Input formats" (written by cog) read."""

    name: str
    suffixes: tuple[str, ...]
    reads: str
    """What is read from it, for people."""
    load: Callable[..., Any]
    """``(path, text | bytes, settings) -> Document``, or ``(path, settings) -> items`` for ``records``."""
    binary: bool = False
    """The loader takes the file's bytes, not its text."""
    records: bool = False
    """One article per record (the loader reads the file itself, record by record)."""


FORMATS: tuple[Format, ...] = (
    Format("JSONL", (".jsonl", ".ndjson"), "one article per line: `id`, `url`, `title`, `source`, `published` "
           "(YYYY-MM-DD or ISO datetime), `authors` (list), `text`. Common other names are understood (`link`, "
           "`headline`, `date`, `body`, `content`, ...); map your own with "
           "`jsonl_fields = {text = \"story\", url = \"permalink\"}`.", _iter_jsonl, records=True),
    Format("text", (".txt",), "a leading line `date YYYY-MM-DD` becomes the published date (the text may continue "
           "on that line); optional `title:`, `url:`, `source:` header lines follow.", _load_txt),
    Format("Markdown", (".md", ".markdown"), "YAML front matter (`title`, `date`, `url`, `source`, `authors`); "
           "otherwise the first `#` heading is the title. Markup is stripped.", _load_markdown),
    Format("HTML", (".html", ".htm"), "main text and metadata (title, date, URL, site, author) by trafilatura.",
           _load_html),
    Format("PDF", (".pdf",), "text of every page (pypdf); title and creation date from the PDF's metadata.",
           _load_pdf, binary=True),
)
SUFFIXES = frozenset(suffix for form in FORMATS for suffix in form.suffixes)
_BY_SUFFIX = {suffix: form for form in FORMATS for suffix in form.suffixes}


def format_of(path: Path) -> Format:
    """The format of ``path``, by its suffix (the caller has checked it is one of :data:`SUFFIXES`)."""
    return _BY_SUFFIX[path.suffix.lower()]


def formats_table() -> str:
    """README's "Input formats" table."""
    rows = ["| format | suffixes | what is read |", "|---|---|---|"]
    rows += [f"| {f.name} | {', '.join(f'`{s}`' for s in f.suffixes)} | {f.reads} |" for f in FORMATS]
    return "\n".join(rows) + "\n"
