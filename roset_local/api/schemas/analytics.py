"""Analytics: read-only figures over the rollups (a space-confined key sees its spaces only)."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from roset_local.api.schemas.common import Shape

Rate = Annotated[float, Meta(description="completed / (completed + failed); 1.0 when nothing has finished",
                             examples=[0.9731])]
Day = Annotated[str, Meta(description="A UTC day", examples=["2026-11-30"])]
Ms = Annotated[int | None, Meta(description="Milliseconds; null without finished jobs")]


class Overview(Shape):
    total_files: int
    total_jobs: int
    total_variants: int
    total_connections: int
    success_rate: Rate
    files_by_status: Annotated[dict[str, int], Meta(examples=[{"uploading": 0, "uploaded": 0, "processing": 1,
                                                                "completed": 40, "failed": 2}])]
    jobs_by_status: Annotated[dict[str, int], Meta(description="Only statuses with jobs")]


class ProviderLatency(Shape):
    provider: str
    avg_ms: int
    count: int


class Processing(Shape):
    p50_ms: Ms
    p95_ms: Ms
    p99_ms: Ms
    by_provider: list[ProviderLatency]
    days: int


class FileTypeCount(Shape):
    content_type: str
    count: int
    total_bytes: int


class FileTypes(Shape):
    file_types: list[FileTypeCount]


class SpaceHealth(Shape):
    space: str
    file_count: int
    total_bytes: int
    completed: int
    failed: int
    health_score: Rate


class SpacesHealth(Shape):
    spaces: list[SpaceHealth]


class RecentFailure(Shape):
    job_id: str
    file_id: str
    filename: str | None
    space: str
    provider: str | None
    reason: str | None
    error: str | None
    failed_at: str | None


class RecentFailures(Shape):
    failures: list[RecentFailure]


class DayVolume(Shape):
    date: Day
    uploads: int
    processed: Annotated[int, Meta(description="Jobs that finished (completed or failed) that day")]


class Volume(Shape):
    data: list[DayVolume]


class DayTrend(Shape):
    date: Day
    uploads: int
    completed: int
    failed: int


class Trends(Shape):
    data: list[DayTrend]


class ProviderStats(Shape):
    provider: str
    total_jobs: int
    completed: int
    failed: int
    success_rate: Rate
    avg_ms: Ms


class ProvidersStats(Shape):
    providers: list[ProviderStats]


class FailureReason(Shape):
    reason: Annotated[str, Meta(examples=["unsupported_format"])]
    count: int
    last_seen: str | None


class TopFailures(Shape):
    failures: list[FailureReason]


class DayStorage(Shape):
    date: Day
    total_bytes: int
    delta_bytes: int


class StorageGrowth(Shape):
    data: list[DayStorage]
