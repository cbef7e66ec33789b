"""Generators of real sample files with known text, for any test suite (no binary fixtures in git).

Every generator writes into a directory and returns a `Sample` naming the words a correct extractor
must find. PDFs are written by hand (text layer, image-only pages, RC4 encryption), images with
Pillow, .docx by hand, .pptx / .xlsx with python-pptx / openpyxl (pulled in by markitdown's extras),
speech with Debian's `espeak-ng` and media containers with `ffmpeg` (see tests/providers/APT_PACKAGES).
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import shutil
import struct
import subprocess
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

TEXT_WORDS = ["Quarterly", "report", "revenue", "grew", "seventeen", "percent"]
OCR_LINES = ["Invoice number 4821", "Acme Widgets Limited", "Total due 129 dollars"]
OCR_WORDS = ["Invoice", "4821", "Acme", "Widgets", "Total", "129"]
SPEECH_TEXT = "The quick brown fox jumps over the lazy dog."
SPEECH_WORDS = ["quick", "brown", "fox", "lazy", "dog"]


@dataclass
class Sample:
    path: Path
    content_type: str
    words: list[str] = field(default_factory=list)
    kind: str = ""

    @property
    def filename(self) -> str:
        return self.path.name


# -- PDF -------------------------------------------------------------------------------------------
_PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")


def _rc4(key: bytes, data: bytes) -> bytes:
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    out = bytearray()
    i = j = 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(byte ^ s[(s[i] + s[j]) % 256])
    return bytes(out)


def _pdf_escape(text: str) -> bytes:
    raw = text.encode("latin-1", "replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


@dataclass
class PdfPage:
    lines: list[str] = field(default_factory=list)
    jpeg: bytes | None = None  # a full-page image (a "scan"); grayscale JPEG
    jpeg_size: tuple[int, int] = (0, 0)
    font_size: int = 14


def pdf_bytes(
    pages: list[PdfPage], title: str | None = None, author: str | None = None, user_password: str | None = None
) -> bytes:
    """A small valid PDF (Letter pages, Helvetica); `user_password` encrypts it (RC4 40-bit, R2)."""
    objects: dict[int, bytes] = {}
    streams: dict[int, bytes] = {}
    n_fixed = 4  # 1 catalog, 2 pages, 3 font, 4 info
    page_ids = []
    next_id = n_fixed + 1
    for page in pages:
        page_id, content_id = next_id, next_id + 1
        next_id += 2
        image_id = None
        if page.jpeg is not None:
            image_id = next_id
            next_id += 1
        page_ids.append(page_id)
        ops = []
        if image_id is not None:
            ops.append(b"q 612 0 0 792 0 0 cm /Im1 Do Q")
            w, h = page.jpeg_size
            objects[image_id] = (
                f"<< /Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /DeviceGray "
                f"/BitsPerComponent 8 /Filter /DCTDecode".encode()
            )
            streams[image_id] = page.jpeg or b""
        if page.lines:
            ops.append(f"BT /F1 {page.font_size} Tf {page.font_size + 6} TL 72 720 Td".encode())
            for line in page.lines:
                ops.append(b"(" + _pdf_escape(line) + b") Tj T*")
            ops.append(b"ET")
        streams[content_id] = b"\n".join(ops)
        objects[content_id] = b"<<"
        resources = b"/Font << /F1 3 0 R >>"
        if image_id is not None:
            resources += f" /XObject << /Im1 {image_id} 0 R >>".encode()
        objects[page_id] = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_id} 0 R ".encode()
            + b"/Resources << "
            + resources
            + b" >> >>"
        )
    objects[1] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[2] = f"<< /Type /Pages /Count {len(page_ids)} /Kids [{' '.join(f'{i} 0 R' for i in page_ids)}] >>".encode()
    objects[3] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    info_strings = {"Title": title, "Author": author, "Producer": "roset samplegen"}

    file_id = hashlib.md5(repr((len(pages), title)).encode()).digest()
    key = None
    encrypt_id = None
    if user_password is not None:
        owner = _pad(b"owner-" + user_password.encode())
        o_value = _rc4(hashlib.md5(owner).digest()[:5], _pad(user_password.encode()))
        perms = -4  # all permissions
        key = hashlib.md5(_pad(user_password.encode()) + o_value + struct.pack("<i", perms) + file_id).digest()[:5]
        u_value = _rc4(key, _PAD)
        encrypt_id = next_id
        next_id += 1
        objects[encrypt_id] = (
            b"<< /Filter /Standard /V 1 /R 2 /Length 40 /O <"
            + o_value.hex().encode()
            + b"> /U <"
            + u_value.hex().encode()
            + b"> /P "
            + str(perms).encode()
            + b" >>"
        )

    def enc(obj_id: int, data: bytes) -> bytes:
        if key is None or obj_id == encrypt_id:
            return data
        obj_key = hashlib.md5(key + struct.pack("<I", obj_id)[:3] + b"\x00\x00").digest()[: len(key) + 5]
        return _rc4(obj_key, data)

    info = b"<<"
    for name, value in info_strings.items():
        if value:
            info += f" /{name} <".encode() + enc(4, value.encode("latin-1")).hex().encode() + b">"
    objects[4] = info + b" >>"

    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for obj_id in sorted(objects):
        offsets[obj_id] = out.tell()
        out.write(f"{obj_id} 0 obj\n".encode())
        if obj_id in streams:
            data = enc(obj_id, streams[obj_id])
            head = objects[obj_id]
            head = head[:-2] if head.endswith(b">>") else head
            out.write(head + f" /Length {len(data)} >>\nstream\n".encode() + data + b"\nendstream")
        else:
            out.write(objects[obj_id])
        out.write(b"\nendobj\n")
    xref = out.tell()
    size = max(objects) + 1
    out.write(f"xref\n0 {size}\n0000000000 65535 f \n".encode())
    for obj_id in range(1, size):
        out.write(f"{offsets[obj_id]:010d} 00000 n \n".encode())
    trailer = f"trailer\n<< /Size {size} /Root 1 0 R /Info 4 0 R /ID [<{file_id.hex()}> <{file_id.hex()}>]"
    if encrypt_id:
        trailer += f" /Encrypt {encrypt_id} 0 R"
    out.write(trailer.encode() + f" >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def _pad(password: bytes) -> bytes:
    return (password + _PAD)[:32]


# -- images ----------------------------------------------------------------------------------------
def text_image(lines: list[str], width: int = 900, font_size: int = 36, margin: int = 30, mode: str = "RGB") -> Any:
    """A Pillow image with black text lines on white."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=font_size)
    line_h = int(font_size * 1.6)
    img = Image.new(mode, (width, margin * 2 + line_h * len(lines)), "white")
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((margin, margin + i * line_h), line, font=font, fill="black")
    return img


def scanned_page_jpeg(lines: list[str], dpi: int = 150) -> tuple[bytes, tuple[int, int]]:
    """A Letter page "scanned" at `dpi` as a grayscale JPEG, with text in the top third."""
    from PIL import Image, ImageDraw, ImageFont

    w, h = int(8.5 * dpi), int(11 * dpi)
    img = Image.new("L", (w, h), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=int(dpi * 0.25))
    for i, line in enumerate(lines):
        draw.text((dpi, dpi + i * int(dpi * 0.45)), line, font=font, fill=0)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return buf.getvalue(), (w, h)


def make_image(directory: Path, fmt: str) -> Sample:
    ext = {"jpeg": "jpg", "tiff": "tiff"}.get(fmt, fmt)
    path = Path(directory) / f"sample-image.{ext}"
    img = text_image(OCR_LINES)
    if fmt == "gif":
        img = img.convert("P")
    img.save(path, format={"jpg": "JPEG"}.get(fmt.upper(), fmt.upper()))
    return Sample(path, f"image/{fmt}", OCR_WORDS, kind=fmt)


# -- documents ---------------------------------------------------------------------------------------
def make_pdf_text(directory: Path, pages: int = 3, name: str = "sample-text.pdf") -> Sample:
    body = [
        PdfPage(lines=[f"Page {i + 1} of the report.", " ".join(TEXT_WORDS) + ".", "Plain body text follows here."])
        for i in range(pages)
    ]
    path = Path(directory) / name
    path.write_bytes(pdf_bytes(body, title="Quarterly Report", author="Roset Tests"))
    return Sample(path, "application/pdf", TEXT_WORDS, kind="pdf")


def make_pdf_scanned(directory: Path) -> Sample:
    jpeg, size = scanned_page_jpeg(OCR_LINES)
    path = Path(directory) / "sample-scanned.pdf"
    path.write_bytes(pdf_bytes([PdfPage(jpeg=jpeg, jpeg_size=size)]))
    return Sample(path, "application/pdf", OCR_WORDS, kind="pdf_scanned")


def make_pdf_mixed(directory: Path) -> Sample:
    jpeg, size = scanned_page_jpeg(OCR_LINES)
    text = PdfPage(lines=[" ".join(TEXT_WORDS) + "."])
    path = Path(directory) / "sample-mixed.pdf"
    path.write_bytes(pdf_bytes([text, PdfPage(jpeg=jpeg, jpeg_size=size), text]))
    return Sample(path, "application/pdf", TEXT_WORDS + OCR_WORDS, kind="pdf_mixed")


def make_pdf_encrypted(directory: Path, password: str = "secret") -> Sample:
    path = Path(directory) / "sample-encrypted.pdf"
    path.write_bytes(pdf_bytes([PdfPage(lines=[" ".join(TEXT_WORDS)])], title="Locked", user_password=password))
    return Sample(path, "application/pdf", TEXT_WORDS, kind="pdf_encrypted")


_W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def _docx_para(text: str, style: str | None = None) -> str:
    ppr = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
    return f'<w:p>{ppr}<w:r><w:t xml:space="preserve">{text}</w:t></w:r></w:p>'


def docx_bytes(
    heading: str, paragraphs: list[str], table: list[tuple[str, ...]], title: str = "", author: str = ""
) -> bytes:
    """A minimal WordprocessingML package written by hand (python-docx is not a dependency)."""
    rows = "".join(
        "<w:tr>" + "".join(f"<w:tc><w:p><w:r><w:t>{cell}</w:t></w:r></w:p></w:tc>" for cell in row) + "</w:tr>"
        for row in table
    )
    body = _docx_para(heading, "Heading1") + "".join(_docx_para(p) for p in paragraphs)
    if rows:
        body += f"<w:tbl><w:tblPr/>{rows}</w:tbl>"
    files = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
            '<Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/>'
            '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/></Relationships>'
        ),
        "word/_rels/document.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>'
        ),
        "word/styles.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><w:styles {_W}><w:style w:type="paragraph" w:styleId="Heading1">'
            '<w:name w:val="heading 1"/></w:style></w:styles>'
        ),
        "word/document.xml": f'<?xml version="1.0" encoding="UTF-8"?><w:document {_W}><w:body>{body}</w:body></w:document>',
        "docProps/core.xml": (
            '<?xml version="1.0" encoding="UTF-8"?><cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
            f'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{title}</dc:title><dc:creator>{author}</dc:creator></cp:coreProperties>'
        ),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


def make_docx(directory: Path) -> Sample:
    path = Path(directory) / "sample.docx"
    path.write_bytes(
        docx_bytes(
            "Quarterly Report",
            [" ".join(TEXT_WORDS) + "."],
            [("Region", "Revenue"), ("North", "4200")],
            title="Quarterly Report",
            author="Roset Tests",
        )
    )
    return Sample(
        path,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        TEXT_WORDS + ["Region", "North", "4200"],
        kind="docx",
    )


def make_pptx(directory: Path) -> Sample:
    import pptx

    prs = pptx.Presentation()
    for i, (title, body) in enumerate(
        [("Quarterly Report", " ".join(TEXT_WORDS)), ("Next Steps", "Hire more engineers")]
    ):
        slide = prs.slides.add_slide(prs.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    path = Path(directory) / "sample.pptx"
    prs.save(str(path))
    return Sample(
        path,
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        TEXT_WORDS + ["engineers"],
        kind="pptx",
    )


def make_xlsx(directory: Path) -> Sample:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Revenue"
    ws.append(["Region", "Quarterly", "Percent"])
    ws.append(["North", 4200, "seventeen"])
    path = Path(directory) / "sample.xlsx"
    wb.save(str(path))
    return Sample(
        path,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ["Region", "Quarterly", "North", "4200", "seventeen"],
        kind="xlsx",
    )


def make_text_files(directory: Path) -> dict[str, Sample]:
    d = Path(directory)
    words = " ".join(TEXT_WORDS)
    files = {
        "html": (
            "sample.html",
            "text/html",
            "<html><head><title>Quarterly Report</title></head><body><h1>Quarterly Report</h1>"
            f"<p>{words}.</p><table><tr><th>Region</th><th>Revenue</th></tr>"
            "<tr><td>North</td><td>4200</td></tr></table></body></html>",
        ),
        "csv": ("sample.csv", "text/csv", "Region,Quarterly,Percent\nNorth,4200,seventeen\nSouth,3100,revenue grew\n"),
        "json": (
            "sample.json",
            "application/json",
            '{"title": "Quarterly report", "summary": "revenue grew seventeen percent", "regions": ["North", "South"]}',
        ),
        "md": (
            "sample.md",
            "text/markdown",
            f"# Quarterly Report\n\n{words}.\n\n| Region | Revenue |\n|---|---|\n| North | 4200 |\n",
        ),
        "txt": ("sample.txt", "text/plain", f"Quarterly report\n\n{words}.\nThe end.\n"),
        "eml": (
            "sample.eml",
            "message/rfc822",
            "From: Alice <alice@example.com>\r\nTo: Bob <bob@example.com>\r\nSubject: Quarterly report\r\n"
            "Date: Mon, 1 Jun 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\nHi Bob,\r\n\r\n{words}.\r\n\r\nAlice\r\n",
        ),
    }
    out = {}
    for kind, (name, ctype, text) in files.items():
        path = d / name
        path.write_text(text, encoding="utf-8")
        out[kind] = Sample(
            path, ctype, ["Quarterly", "North"] if kind == "csv" else ["revenue", "seventeen"], kind=kind
        )
    return out


# -- audio and video ---------------------------------------------------------------------------------
def have_media_tools() -> bool:
    return bool(shutil.which("espeak-ng") and shutil.which("ffmpeg"))


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def speech_wav(directory: Path, text: str = SPEECH_TEXT) -> Path:
    """Speech as a 16-bit WAV (espeak-ng, US English, a little slower than its default)."""
    path = Path(directory) / "sample-speech.wav"
    if not path.exists():
        _run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(path), text])
    return path


_AUDIO_ARGS = {
    "wav": (["-c:a", "pcm_s16le"], "audio/wav"),
    "mp3": (["-c:a", "libmp3lame", "-b:a", "64k"], "audio/mpeg"),
    "m4a": (["-c:a", "aac", "-b:a", "64k"], "audio/mp4"),
    "ogg": (["-c:a", "libvorbis", "-q:a", "3"], "audio/ogg"),
    "flac": (["-c:a", "flac"], "audio/flac"),
    "webm": (["-c:a", "libopus", "-b:a", "48k"], "audio/webm"),
}
_VIDEO_ARGS = {
    "mp4": (["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"], "video/mp4"),
    "mov": (["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"], "video/quicktime"),
    "webm": (["-c:v", "libvpx", "-deadline", "realtime", "-b:v", "200k", "-c:a", "libopus"], "video/webm"),
}


def make_audio(directory: Path, fmt: str) -> Sample:
    wav = speech_wav(directory)
    args, ctype = _AUDIO_ARGS[fmt]
    path = Path(directory) / f"sample-audio.{fmt}"
    _run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(wav), "-ar", "16000", "-ac", "1", *args, str(path)])
    return Sample(path, ctype, SPEECH_WORDS, kind=f"audio_{fmt}")


def make_video(directory: Path, fmt: str) -> Sample:
    wav = speech_wav(directory)
    args, ctype = _VIDEO_ARGS[fmt]
    path = Path(directory) / f"sample-video.{fmt}"
    _run(
        [
            "ffmpeg",
            "-y",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=10",
            "-i",
            str(wav),
            "-shortest",
            *args,
            str(path),
        ]
    )
    return Sample(path, ctype, SPEECH_WORDS, kind=f"video_{fmt}")


# -- bad input ---------------------------------------------------------------------------------------
def png_bomb(directory: Path, width: int = 60000, height: int = 60000) -> Path:
    """A PNG whose header claims width x height pixels (a few hundred bytes on disk)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024, 9)
    path = Path(directory) / "bomb.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def zip_bomb_docx(directory: Path, inflated_mib: int = 64) -> Path:
    """A .docx whose document.xml inflates ~1000x (64 MiB of zeros by default)."""
    path = Path(directory) / "bomb.docx"
    block = b"\x00" * (1 << 20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
        )
        with zf.open("word/document.xml", "w", force_zip64=True) as fh:
            for _ in range(inflated_mib):
                fh.write(block)
    return path


def truncated(source: Path, directory: Path, keep: float = 0.5, name: str | None = None) -> Path:
    data = Path(source).read_bytes()
    path = Path(directory) / (name or f"truncated-{Path(source).name}")
    path.write_bytes(data[: max(1, int(len(data) * keep))])
    return path


def garbage(directory: Path, name: str, size: int = 4096, prefix: bytes = b"") -> Path:
    path = Path(directory) / name
    path.write_bytes(prefix + hashlib.sha256(name.encode()).digest() * (size // 32))
    return path


# -- everything at once ---------------------------------------------------------------------------
def make_all(directory: Path, media: bool = True) -> dict[str, Sample]:
    """One sample per supported type, keyed by kind (e.g. "pdf", "png", "docx", "audio_mp3")."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    makers: dict[str, Callable[[], Sample]] = {
        "pdf": lambda: make_pdf_text(d),
        "pdf_scanned": lambda: make_pdf_scanned(d),
        "pdf_mixed": lambda: make_pdf_mixed(d),
        "docx": lambda: make_docx(d),
        "pptx": lambda: make_pptx(d),
        "xlsx": lambda: make_xlsx(d),
    }
    for fmt in ("png", "jpeg", "webp", "tiff", "bmp", "gif"):
        makers[fmt] = functools.partial(make_image, d, fmt)
    samples = {kind: make() for kind, make in makers.items()}
    samples.update(make_text_files(d))
    if media and have_media_tools():
        for fmt in _AUDIO_ARGS:
            samples[f"audio_{fmt}"] = make_audio(d, fmt)
        for fmt in _VIDEO_ARGS:
            samples[f"video_{fmt}"] = make_video(d, fmt)
    return samples


def found_words(text: str, words: list[str]) -> list[str]:
    """The words of `words` that occur in `text`, case-insensitively."""
    low = text.lower()
    return [w for w in words if w.lower() in low]


if __name__ == "__main__":  # python tests/samplegen.py DIR: writes every sample into DIR
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "samples")
    for kind, sample in make_all(target).items():
        print(f"{kind:14} {sample.content_type:40} {os.path.getsize(sample.path):>8} {sample.path}")
