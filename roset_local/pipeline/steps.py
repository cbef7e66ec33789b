"""The steps of one claimed job, in order: plan, extract (or reuse a twin's work), text variants,
index, thumbnail, metadata, then swap everything in with the job's completion in one transaction.

``roset_local.pipeline.process`` claims the job, keeps its lease and turns any exit into a definite
state; this module only does the work.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from roset_local.hooks import ByteStream
from roset_local.index.chunking import page_starts
from roset_local.index.indexer import chunk_file, index_text, index_vectors
from roset_local.pipeline import reuse
from roset_local.pipeline.lifecycle import delete_scheduled_blobs, file_event_data, notify_events, settle_file_after_job
from roset_local.positions.structure import PageSizes, document_elements, structure_document
from roset_local.providers.base import DEFAULT_EXTRACTION, Extraction, ExtractRequest
from roset_local.secrets import get_hosted_keys
from roset_local.store import files as file_store
from roset_local.store import jobs as job_store
from roset_local.store import org as org_store
from roset_local.store import variants as variant_store
from roset_local.store.events import record_event
from roset_local.store.variants import VARIANT_TYPES
from roset_local.structure.model import Element
from roset_local.timeutil import now_str

if TYPE_CHECKING:
    from roset_local.services import Services
    from roset_local.storage.blobs import BlobStore

# The job's overall progress: extraction fills 0-60 %, text indexing 60-65, embedding 65-95, the rest 95-100.
EXTRACT_SHARE = 0.6
INDEX_TYPES = {"embeddings", "searchable-index"}
Variant = dict[str, Any]  # a row for variant_store.replace_variants


class JobGone(Exception):
    """The job was cancelled, deleted or reclaimed while running: drop the work silently."""


class CancelToken:
    """Set when the job must stop; polled between stages and by the extraction pool."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def __call__(self) -> bool:
        return self._event.is_set()


def check_still_ours(services: "Services", job_id: str, owner: str, cancel: CancelToken) -> None:
    if cancel.is_set() or not job_store.still_ours(services.db, job_id, owner):
        cancel.set()
        raise JobGone(job_id)


@contextlib.contextmanager
def local_copy(services: "Services", file: dict[str, Any]) -> Iterator[str]:
    """A filesystem path to the file's bytes: the blob itself when on local disk, else a temp copy
    (an object-store blob, or a file that lives in a connected bucket)."""
    if file.get("node_id"):
        with temp_copy(services.hooks.open_connection_file(file), file["filename"]) as path:
            yield path
        return
    with blob_copy(services.blobs, file) as path:
        yield path


@contextlib.contextmanager
def blob_copy(blobs: "BlobStore", file: dict[str, Any]) -> Iterator[str]:
    """A filesystem path to an uploaded file's blob: the blob itself on local disk, else a temp copy
    (no database: worker hosts read originals this way)."""
    path = blobs.local_path(file["storage_key"])
    if path is not None:
        yield path
        return
    with temp_copy(blobs.open(file["storage_key"]), file["filename"]) as path:
        yield path


@contextlib.contextmanager
def temp_copy(source: ByteStream, filename: str) -> Iterator[str]:
    """Copy an open byte stream into a private temp file named like ``filename`` (extension kept)."""
    suffix = os.path.splitext(filename)[1][:16]
    tmpdir = tempfile.mkdtemp(prefix="roset-job-")
    target = os.path.join(tmpdir, "input" + suffix)
    try:
        with source as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 1024 * 1024)
        yield target
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def wanted_variants(services: "Services", options: dict[str, Any]) -> list[str]:
    if options.get("variants"):
        return list(options["variants"])
    return list(org_store.get_org_settings(services.db).get("default_variants") or VARIANT_TYPES)


def extraction_mode(services: "Services", options: dict[str, Any]) -> str:
    """The job's own ``extraction`` option, else the organisation's ``default_extraction``."""
    if options.get("extraction"):
        return str(options["extraction"])
    return str(org_store.get_org_settings(services.db).get("default_extraction") or DEFAULT_EXTRACTION)


def choose_provider(services: "Services", content_type: str, forced: str | None) -> str:
    from roset_local.providers.registry import route

    return route(content_type, org_store.get_routing_rules(services.db), forced)


def hosted_keys(services: "Services") -> dict[str, dict[str, Any]]:
    """Saved provider keys, each with the outbound policy (the extraction process has no settings)."""
    keys = get_hosted_keys(services)
    allow_private = services.settings.outbound_allow_private
    return {name: {**entry, "allow_private": allow_private} for name, entry in keys.items()}


def pages_used(content_type: str, metadata: dict[str, Any]) -> int:
    """Billing pages: PDF pages; 1 per image; 1 per started minute of audio/video; else 1."""
    ctype = (content_type or "").lower()
    if ctype == "application/pdf":
        return max(1, int(metadata.get("page_count") or 1))
    if ctype.startswith(("audio/", "video/")):
        return max(1, math.ceil(float(metadata.get("duration_seconds") or 0) / 60))
    return 1




# -- the job, step by step ------------------------------------------------------------------------

@dataclass
class JobRun:
    """One claimed job as it goes through the steps: who holds it, how to stop it, what it costs."""

    services: "Services"
    job: dict[str, Any]
    file: dict[str, Any]
    owner: str
    cancel: CancelToken
    started: float  # time.monotonic() at claim: the job's duration
    timings: dict[str, float] = field(default_factory=dict)  # stage → ms, reported in the metadata variant

    @property
    def options(self) -> dict[str, Any]:
        return self.job["options"] or {}

    def check(self) -> None:
        """Raise JobGone when the job was cancelled, deleted or reclaimed meanwhile."""
        check_still_ours(self.services, self.job["id"], self.owner, self.cancel)

    def progress(self, percent: int, stage: str) -> None:
        job_store.set_progress(self.services.db, self.job["id"], self.owner, percent, stage)


@dataclass(frozen=True)
class Plan:
    """How the job runs, decided before extraction from its options, the org settings and the routing."""

    content_type: str
    provider: str
    engine: str  # "hosted" when a saved key sends the provider's work to its service, else "local"
    keys: dict[str, dict[str, Any]]
    mode: str  # the extraction mode
    wanted: list[str]  # variant types

    @property
    def indexed(self) -> bool:
        return bool(INDEX_TYPES & set(self.wanted))


def process_job(run: JobRun) -> None:
    """Every step of a claimed job, ending with its completion; raises to the caller on any failure."""
    plan = plan_job(run)
    extraction, twin = extract_or_find_twin(run, plan)
    if twin is not None:  # the same bytes were processed alike in this space: copy, don't extract
        run.check()
        outputs, thumb_key = reuse.copied_outputs(run.services, run.file, run.job, twin)
        swap_in(run, twin["provider"], outputs, 0, thumb_key, twin)  # 0 pages: nothing extracted
        return
    assert extraction is not None
    run.check()
    elements, sizes = document_elements(extraction, plan.mode)
    outputs = text_variants(plan, extraction, elements, sizes)
    if plan.indexed:
        outputs += index_variants(run, plan, extraction, elements, sizes)
    run.progress(95, "finishing")
    thumbnail, thumb_key = thumbnail_variant(run, plan, extraction)
    outputs += thumbnail
    pages = pages_used(plan.content_type, extraction.metadata)
    if "metadata" in plan.wanted:
        outputs.append(metadata_variant(run, plan, extraction, pages))
    swap_in(run, plan.provider, outputs, pages, thumb_key)


def plan_job(run: JobRun) -> Plan:
    """Choose the provider, engine, extraction mode and variants; record provider and engine on the job."""
    plan = make_plan(run.services, run.file, run.options)
    job_store.start_extracting(run.services.db, run.job["id"], provider=plan.provider, engine=plan.engine)
    return plan


def make_plan(services: "Services", file: dict[str, Any], options: dict[str, Any]) -> Plan:
    """The plan of a job on ``file`` with ``options`` (reads the org settings and routing; writes nothing)."""
    content_type = file["content_type"] or "application/octet-stream"
    provider = choose_provider(services, content_type, options.get("provider"))
    keys = hosted_keys(services)
    engine = "hosted" if provider in keys else "local"
    return Plan(content_type=content_type, provider=provider, engine=engine, keys=keys,
                mode=extraction_mode(services, options), wanted=wanted_variants(services, options))


def extract_or_find_twin(run: JobRun, plan: Plan) -> tuple[Extraction | None, dict[str, Any] | None]:
    """The extraction of the file's bytes in an isolated worker, or a twin whose work can be copied."""
    t0 = time.monotonic()
    with local_copy(run.services, run.file) as path:  # a bucket file's sha256 is known once its bytes are read
        twin = reuse.find_twin(run.services, run.file, run.options)
        if twin is not None:
            return None, twin
        request = ExtractRequest(path=path, filename=run.file["filename"], content_type=plan.content_type,
                                 options={"extraction": plan.mode, "thumbnail": "thumbnail" in plan.wanted,
                                          **{k: v for k, v in run.options.items() if k.startswith("_")}})
        extraction = run.services.extraction_pool.run(plan.provider, plan.keys, request,
                                                      _extraction_progress(run), run.cancel)
    run.timings["extract_ms"] = round((time.monotonic() - t0) * 1000, 1)
    return extraction, None


def _extraction_progress(run: JobRun) -> Callable[[int, str], None]:
    """The extraction's own 0-100 % mapped onto the job's 0-60 %, written at most twice a second.

    The first write waits half a second and 100 % is never forced: the job has just entered
    ``extracting`` and the next stage writes its own progress, so a small file's extraction costs no
    write transaction at all (two per file were a good part of its fixed cost).
    """
    last = [time.monotonic()]

    def progress(percent: int, stage: str) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.5:
            last[0] = now
            run.progress(int(percent * EXTRACT_SHARE), stage)

    return progress


def text_variants(plan: Plan, extraction: Extraction, elements: list[Element], sizes: PageSizes) -> list[Variant]:
    """The markdown (also whenever the file is indexed) and the structure document."""
    outputs: list[Variant] = []
    if "markdown" in plan.wanted or plan.indexed:
        outputs.append({"type": "markdown", "content": extraction.markdown, "content_type": "text/markdown"})
    if "structure" in plan.wanted and elements:
        outputs.append({"type": "structure", "content": json.dumps(structure_document(elements, sizes)),
                        "content_type": "application/json"})
    return outputs


def index_variants(run: JobRun, plan: Plan, extraction: Extraction, elements: list[Element],
                   sizes: PageSizes) -> list[Variant]:
    """Index the text (and embed it), returning the searchable-index and embeddings variants wanted."""
    return index_rows(index_stages(run, extraction, elements, sizes, plan.wanted), plan.wanted)


def index_rows(result: dict[str, Any], wanted: list[str]) -> list[Variant]:
    """The searchable-index and embeddings variants wanted, from what indexing reported."""
    return [{"type": vtype, "content": json.dumps(result[vtype]), "content_type": "application/json"}
            for vtype in ("embeddings", "searchable-index") if vtype in wanted and vtype in result]


def thumbnail_variant(run: JobRun, plan: Plan, extraction: Extraction) -> tuple[list[Variant], str | None]:
    """The thumbnail written to the blob store (deleted again by swap_in should the swap fail)."""
    return write_thumbnail(run.services.blobs, run.file, run.job["id"], plan, extraction)


def write_thumbnail(blobs: "BlobStore", file: dict[str, Any], folder: str, plan: Plan,
                    extraction: Extraction) -> tuple[list[Variant], str | None]:
    """The thumbnail variant, its bytes stored under the file's ``variants/<folder>/`` (no database)."""
    if "thumbnail" not in plan.wanted or not extraction.thumbnail:
        return [], None
    ext = "webp" if extraction.thumbnail_type == "image/webp" else "png"
    key = f"{file['space']}/{file['id']}/variants/{folder}/thumbnail.{ext}"
    blobs.write_bytes(key, extraction.thumbnail)
    return [{"type": "thumbnail", "blob_key": key, "content": None,
             "content_type": extraction.thumbnail_type or "image/png", "size_bytes": len(extraction.thumbnail)}], key


def metadata_variant(run: JobRun, plan: Plan, extraction: Extraction, pages: int) -> Variant:
    """The provider's metadata plus what the job knows: hash, type, billing pages, stage timings."""
    return metadata_of(run.file, run.timings, plan, extraction, pages)


def metadata_of(file: dict[str, Any], timings: dict[str, float], plan: Plan, extraction: Extraction,
                pages: int) -> Variant:
    """The metadata variant from the file's row and the stage timings (no database)."""
    meta = dict(extraction.metadata)
    # Providers time their stages in seconds ("timings"); the variant reports every stage in milliseconds.
    stage_ms = {k: round(float(v) * 1000, 1) for k, v in (meta.pop("timings", None) or {}).items()}
    meta.update({"sha256": file["sha256"], "detected_type": meta.get("detected_type") or plan.content_type,
                 "size_bytes": file["size_bytes"], "filename": file["filename"], "provider": plan.provider,
                 "engine": plan.engine, "pages_billed": pages, "extraction": plan.mode,
                 "timings_ms": {**stage_ms, **(meta.get("timings_ms") or {}), **timings}})
    if extraction.pages:  # where each page begins in the markdown: page ranges of it (MCP get_markdown)
        meta["page_starts"] = page_starts(extraction.markdown, [(p.number, p.markdown) for p in extraction.pages])
    return {"type": "metadata", "content": json.dumps(meta, default=str), "content_type": "application/json"}


def index_stages(run: JobRun, extraction: Extraction, elements: list[Element], sizes: PageSizes,
                 wanted: list[str]) -> dict[str, Any]:
    """Text first, vectors after: the file answers text search as soon as its markdown is chunked.

    Each stage replaces the file's chunks in one transaction, so a crash between stages leaves a
    consistent index and the re-run (from extraction) replaces it again: never duplicate chunks.
    """
    services, job, file = run.services, run.job, run.file
    db = services.db
    common = {"file_id": file["id"], "space": file["space"], "filename": file["filename"]}

    def guard() -> None:  # inside each stage's write: a cancelled or reclaimed job writes nothing
        if run.cancel.is_set() or not job_store.still_ours(db, job["id"], run.owner):
            run.cancel.set()
            raise JobGone(job["id"])

    run.progress(60, "indexing")
    t0 = time.monotonic()
    chunks, cfg = chunk_file(db, markdown=extraction.markdown, pages=[(p.number, p.markdown) for p in extraction.pages],
                             segments=[(s.start, s.end, s.text) for s in extraction.segments],
                             chunking=run.options.get("chunking"), elements=elements, page_sizes=sizes)
    result: dict[str, Any] = {"searchable-index": index_text(db, chunks=chunks, cfg=cfg, guard=guard, **common)}
    run.timings["index_text_ms"] = round((time.monotonic() - t0) * 1000, 1)
    if "embeddings" not in wanted:
        return result
    run.progress(65, "embedding")
    _test_hold(run, "embedding")
    last = [time.monotonic()]

    def progress(fraction: float) -> None:
        if time.monotonic() - last[0] >= 0.5:
            last[0] = time.monotonic()
            run.progress(65 + int(30 * fraction), "embedding")

    t1 = time.monotonic()
    embeddings = index_vectors(services, chunks=chunks, cfg=cfg, embedding_model=run.options.get("embedding_model"),
                               cancelled=run.cancel, progress=progress, guard=guard, **common)
    if embeddings is None:
        raise JobGone(job["id"])
    run.timings["embed_ms"] = round((time.monotonic() - t1) * 1000, 1)
    result["embeddings"] = embeddings
    return result


def swap_in(run: JobRun, provider: str | None, outputs: list[Variant], pages: int, thumb_key: str | None,
            twin: dict[str, Any] | None = None, index: Callable[[], None] | None = None) -> None:
    """Swap in the job's variants (and, when reusing a twin's, its index entries, or ``index``: a worker
    host's chunks) and complete the job, all in one transaction."""
    services, job, file = run.services, run.job, run.file
    db = services.db
    try:
        with db.write():
            if not job_store.still_ours(db, job["id"], run.owner):
                raise JobGone(job["id"])
            if twin is not None:
                reuse.copy_index(services, file, twin)
            if index is not None:
                index()
            old_blobs = variant_store.replace_variants(db, file_id=file["id"], job_id=job["id"], provider=provider,
                                                       variants=outputs)
            doomed = file_store.schedule_blob_deletions(db, old_blobs)
            if {o["type"] for o in outputs} & {"markdown", "structure"} == {"markdown"}:
                variant_store.delete_variant(db, file["id"], "structure")  # its spans point into the old markdown
            duration = int((time.monotonic() - run.started) * 1000)
            done = job_store.transition(db, job["id"], "completed", stage="completed", progress=100, pages=pages,
                                        completed_at=now_str(), duration_ms=duration, lease_owner=None,
                                        lease_expires_at=None)
            settle_file_after_job(db, file["id"], "completed")
            record_event(db, "file.processing.completed", file_event_data(file, done, "completed"), space=file["space"])
    except BaseException:
        if thumb_key:
            services.blobs.delete(thumb_key)
        raise
    notify_events(services)
    delete_scheduled_blobs(services, doomed)


def _test_hold(run: JobRun, stage: str) -> None:
    """Test builds only: ``_test_fault="hold-<stage>"`` parks the job before that stage until the file
    ``<data dir>/release-<stage>`` exists, so a test can look at (or kill) the server between stages."""
    settings = run.services.settings
    if not settings.test_faults or run.options.get("_test_fault") != f"hold-{stage}":
        return
    release = settings.data_dir / f"release-{stage}"
    deadline = time.monotonic() + 120
    while not release.exists() and not run.cancel.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
