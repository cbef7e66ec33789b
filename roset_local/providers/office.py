"""Office documents and web pages through roset_local.structure.office, other text through markitdown, e-mail
through the stdlib."""

from __future__ import annotations

import email
import email.policy
import io
import re
import threading
import time
import zipfile
from typing import Any
from xml.etree import ElementTree

from roset_local.structure.model import Element
from roset_local.structure.office import Kind, OfficeResult

from .base import Extraction, ExtractionError, ExtractRequest, Page, ProgressFn
from .detect import DOCX, PPTX, XLSX
from .engines import lib_version
from .guards import Limits, check_file, check_zip
from .textutil import guess_language, tidy, word_count

MARKITDOWN_TYPES: dict[str, str] = {
    DOCX: ".docx",
    PPTX: ".pptx",
    XLSX: ".xlsx",
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "text/csv": ".csv",
    "application/json": ".json",
    "text/markdown": ".md",
    "text/plain": ".txt",
}
OFFICE_ZIPS = {DOCX, PPTX, XLSX}
# Read by our own structured converters (headings, lists, tables, main content); markitdown is their fallback.
STRUCTURED_KINDS: dict[str, Kind] = {
    DOCX: "docx",
    PPTX: "pptx",
    XLSX: "xlsx",
    "text/html": "html",
    "application/xhtml+xml": "html",
}
_LIBRARIES: dict[Kind, str] = {"docx": "mammoth", "pptx": "python-pptx", "xlsx": "openpyxl", "html": "beautifulsoup4"}
EMAIL_TYPES = {"message/rfc822"}
_SLIDE = re.compile(r"<!-- Slide number: (\d+) -->")
# markdownify gives a header-less table an empty header row; its first row becomes the header.
_EMPTY_HEADER = re.compile(r"^\|(?: *\|)+\n(\|(?: *-+ *\|)+)\n(\|.*\|)$", re.MULTILINE)


class MarkItDownHolder:
    """One MarkItDown per process (building it costs ~0.1 s); plugins and network converters unused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._md: Any = None

    def get(self) -> Any:
        with self._lock:
            if self._md is None:
                from markitdown import MarkItDown

                self._md = MarkItDown(enable_plugins=False)
            return self._md


def _core_properties(path: str) -> dict[str, str]:
    """Title and author from an OOXML container's docProps/core.xml."""
    ns = {"dc": "http://purl.org/dc/elements/1.1/"}
    try:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo("docProps/core.xml")
            if info.file_size > 1 << 20:
                return {}
            root = ElementTree.fromstring(zf.read(info))
    except (KeyError, zipfile.BadZipFile, ElementTree.ParseError, OSError):
        return {}
    out = {}
    for key, tag in (("title", "dc:title"), ("author", "dc:creator")):
        el = root.find(tag, ns)
        if el is not None and el.text and el.text.strip():
            out[key] = el.text.strip()
    return out


def extract_office(req: ExtractRequest, content_type: str, progress: ProgressFn, md: MarkItDownHolder) -> Extraction:
    limits = Limits.from_options(req.options)
    check_file(req.path, limits)
    t0 = time.perf_counter()
    props: dict[str, str] = {}
    if content_type in OFFICE_ZIPS:
        check_zip(req.path, limits)
        props = _core_properties(req.path)
    progress(10, "converting")
    elements: list[Element] = []
    slides: list[Page] = []
    # The `fast` extraction mode keeps today's plain conversion (text for search, no structure).
    fast = str(req.options.get("extraction") or "") == "fast"
    structured = _structured(req.path, content_type) if content_type in STRUCTURED_KINDS and not fast else None
    if structured is not None:
        markdown, elements = structured.markdown, structured.elements
        slides = [Page(number=n, markdown=text, ocr=False) for n, text in structured.pages]
        if structured.title and "title" not in props:
            props["title"] = structured.title
        library = _LIBRARIES[STRUCTURED_KINDS[content_type]]
        version = lib_version(library)
    elif content_type in EMAIL_TYPES:
        markdown, props = _email_markdown(req.path, md)
        library = "email (stdlib)"
        version = ""
    else:
        ext = MARKITDOWN_TYPES.get(content_type)
        if ext is None:
            raise ExtractionError("unsupported_format", f"no local extractor for {content_type}")
        markdown, title = _convert(req.path, ext, md)
        if title and "title" not in props:
            props["title"] = title
        library, version = "markitdown", lib_version("markitdown")
    t1 = time.perf_counter()
    if structured is None:
        markdown = _EMPTY_HEADER.sub(lambda m: f"{m.group(2)}\n{m.group(1)}", tidy(markdown))
    pages = slides or (_slides(markdown) if content_type == PPTX else [])
    if "title" not in props:
        heading = re.search(r"^#{1,2} +(.+)$", markdown, re.MULTILINE)
        if heading:
            props["title"] = heading.group(1).strip()
    metadata: dict[str, Any] = {
        "detected_type": content_type,
        "page_count": len(pages) if pages else None,
        "word_count": word_count(markdown),
        "language": guess_language(markdown),
        "title": props.get("title"),
        "author": props.get("author"),
        "ocr_pages": [],
        "engine": {"library": library, "version": version},
        "timings": {"convert": round(t1 - t0, 4)},
    }
    progress(100, "done")
    return Extraction(markdown=markdown, pages=pages, metadata=metadata, elements=elements)


def _structured(path: str, content_type: str) -> OfficeResult | None:
    """Our structured conversion, or None when it cannot read the file (markitdown then tries)."""
    from roset_local.structure.office import convert

    try:
        return convert(path, STRUCTURED_KINDS[content_type])
    except (MemoryError, ExtractionError):
        raise
    except Exception:  # noqa: BLE001 - any parser failure: the markitdown path decides the error
        return None


def _convert(path: str, ext: str, md: MarkItDownHolder) -> tuple[str, str | None]:
    from markitdown import StreamInfo

    try:
        with open(path, "rb") as fh:
            # A stream, never a path string: markitdown treats strings that look like URLs as URLs.
            result = md.get().convert_stream(fh, stream_info=StreamInfo(extension=ext))
    except ExtractionError:
        raise
    except Exception as exc:  # markitdown wraps every converter failure differently
        name = type(exc).__name__
        if name == "UnsupportedFormatException":
            raise ExtractionError("unsupported_format", f"{ext} not convertible: {exc}") from exc
        raise ExtractionError("corrupt_file", f"{ext} document cannot be read: {_short(exc)}") from exc
    title = getattr(result, "title", None)
    # str(): markitdown's HTML title is a bs4 object, which cannot be pickled back from the worker.
    return result.markdown or "", str(title) if title else None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[-1] if text else type(exc).__name__)[:300]


def _slides(markdown: str) -> list[Page]:
    marks = list(_SLIDE.finditer(markdown))
    pages = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(markdown)
        pages.append(Page(number=int(m.group(1)), markdown=markdown[m.end() : end].strip(), ocr=False))
    return pages


def _email_markdown(path: str, md: MarkItDownHolder) -> tuple[str, dict[str, str]]:
    with open(path, "rb") as fh:
        msg = email.message_from_binary_file(fh, policy=email.policy.default)
    subject = str(msg.get("Subject", "") or "")
    sender = str(msg.get("From", "") or "")
    lines = [f"# {subject}" if subject else "# (no subject)", ""]
    for header in ("From", "To", "Cc", "Date"):
        if msg.get(header):
            lines.append(f"**{header}:** {msg.get(header)}  ")
    body_part = msg.get_body(preferencelist=("plain", "html"))
    body = ""
    if body_part is not None:
        try:
            content = body_part.get_content()
        except (LookupError, ValueError):
            content = body_part.get_payload(decode=True) or b""
            content = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
        if body_part.get_content_subtype() == "html":
            from markitdown import StreamInfo

            body = (
                md.get()
                .convert_stream(io.BytesIO(content.encode("utf-8")), stream_info=StreamInfo(extension=".html"))
                .markdown
            )
        else:
            body = content
    attachments = [p.get_filename() for p in msg.iter_attachments() if p.get_filename()]
    lines += ["", body.strip()]
    if attachments:
        lines += ["", "## Attachments", ""] + [f"- {name}" for name in attachments]
    return "\n".join(lines), {"title": subject, "author": sender} if subject else {"author": sender}
