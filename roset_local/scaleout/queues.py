"""The names worker hosts and the API host share: queues, tasks and Redis keys (one list of each)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# huey queue names: the API host consumes MAIN (every task of the server, commits included); worker
# hosts consume WORK (work orders) and only enqueue onto MAIN.
MAIN_QUEUE = "roset"
WORK_QUEUE = "roset.work"
WORK_TASK = "roset.work_order"
COMMIT_TASK = "roset.commit_result"

KEY_PREFIX = "roset:"
REMOTE_JOBS = KEY_PREFIX + "remote-jobs"  # set of "job_id:attempt" handed to worker hosts
WORKER_PREFIX = KEY_PREFIX + "worker:"


def lease_key(job_id: str, attempt: int) -> str:
    return f"{KEY_PREFIX}lease:{job_id}:{attempt}"


def owner_of(job_id: str, attempt: int) -> str:
    """The job's ``lease_owner`` while attempt ``attempt`` runs on some worker host."""
    return f"remote:{job_id}:{attempt}"


def result_key(file: dict[str, Any], job_id: str, attempt: int) -> str:
    """Where a worker host leaves an attempt's result (beside the file's other blobs)."""
    return f"{file['space']}/{file['id']}/results/{job_id}-{attempt}.msgpack"


def variant_dir(job_id: str, attempt: int) -> str:
    """The thumbnail's folder: per attempt, so a late attempt never overwrites the committed one."""
    return f"{job_id}-{attempt}"


def work_task(huey: Any, run: Callable[[dict[str, Any]], None]) -> Any:
    """The work-order task on the WORK queue (``run`` executes it; the API host only enqueues)."""

    @huey.task(name=WORK_TASK)
    def work_order(order: dict[str, Any]) -> None:
        run(order)

    return work_order


def commit_task(huey: Any, apply: Callable[[dict[str, Any]], None]) -> Any:
    """The commit task on the MAIN queue (``apply`` runs on the API host; worker hosts only enqueue)."""

    @huey.task(name=COMMIT_TASK)
    def commit_result(report: dict[str, Any]) -> None:
        apply(report)

    return commit_result


def runs_elsewhere(what: str) -> Callable[[dict[str, Any]], None]:
    """The body of a task this process only enqueues: running it here is a deployment mistake."""

    def refuse(_: dict[str, Any]) -> None:
        raise RuntimeError(f"{what} run on the other side (check which queue each process consumes)")

    return refuse
