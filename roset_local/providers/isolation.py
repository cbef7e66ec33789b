"""Extraction in worker processes, so a segfault, a memory blow-up or a hang fails only its own job."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import Any, Callable

from roset_local.heap import freeze_startup_heap

from .base import Extraction, ExtractionError, ExtractRequest, no_progress

CancelToken = Any  # a threading.Event (or anything with is_set()) or a callable returning bool

_job_ids = itertools.count(1)


WORKER_START_SECONDS = 120.0  # bound on a worker's own start-up before it takes a job
PROGRESS_SECONDS = 0.2  # least time between two progress reports of a worker


class _Worker:
    def __init__(
        self, ctx: Any, models_dir: str | None, test_faults: bool, deny_network: bool, preload: bool = False
    ) -> None:
        parent, child = ctx.Pipe(duplex=True)
        self.conn: Connection = parent
        self.process = ctx.Process(
            target=_worker_main,
            args=(child, models_dir, test_faults, deny_network, preload),
            name="roset-extract",
            daemon=True,
        )
        self.process.start()
        child.close()
        self.jobs = 0
        self.killed_by_us = False
        self.network: str | None = None  # "open", "namespace" or "guard" once the worker reports in

    def wait_ready(self, timeout: float) -> bool:
        """Waits for the worker's start-up report (imports done, network policy applied)."""
        deadline = time.monotonic() + timeout
        while self.network is None and time.monotonic() < deadline:
            if self.conn.poll(0.05):
                try:
                    msg = self.conn.recv()
                except (EOFError, OSError):
                    return False
                if msg[0] == "ready":
                    self.network = str(msg[2])
            elif not self.process.is_alive():
                return False
        return self.network is not None

    def alive(self) -> bool:
        return bool(self.process.is_alive())

    def rss_bytes(self) -> int | None:
        try:
            with open(f"/proc/{self.process.pid}/statm", "rb") as fh:
                return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return None

    def kill(self) -> None:
        self.killed_by_us = True
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(("stop",))
        except (OSError, ValueError):
            pass
        self.process.join(2)
        if self.process.is_alive():
            self.kill()
        else:
            self.conn.close()


class _Run:
    """One job's state while a worker runs it."""

    def __init__(self, job_id: int, timeout: float) -> None:
        self.job_id = job_id
        self.timeout = timeout
        # The job's clock starts when the worker acknowledges it: a fresh worker first spends
        # seconds importing its engines, which must not count against the file.
        self.deadline = time.monotonic() + timeout + WORKER_START_SECONDS
        self.acknowledged = False
        self.cancel_sent_at: float | None = None
        self.answered = False  # the worker sent the result or the error: it is free again

    def acknowledge(self) -> None:
        if not self.acknowledged:
            self.acknowledged = True
            self.deadline = time.monotonic() + self.timeout


class ExtractionPool:
    """A pool of extraction worker processes (spawn context: no inherited locks or threads).

    `run()` blocks the calling thread until the job ends; up to `max_workers` jobs run at once,
    further callers wait for a slot. A worker is replaced after `max_jobs_per_worker` jobs, or when
    it dies. Memory is watched as the worker's resident set (Linux /proc), polled every
    `poll_interval` seconds. `deny_network=True` puts each worker in its own empty network
    namespace (Linux; a socket guard elsewhere): local engines then provably never reach the
    network, and hosted adapters fail. `test_faults=True` lets `options["_test_fault"]` ("segfault", "hog",
    "sleep", "slow", "raise") misbehave on purpose: for tests only, never from user input.
    """

    def __init__(
        self,
        max_workers: int = 2,
        memory_limit_bytes: int = 3 * 1024**3,
        timeout_seconds: float = 900.0,
        max_jobs_per_worker: int = 100,
        *,
        models_dir: str | os.PathLike[str] | None = None,
        start_method: str = "spawn",
        cancel_grace_seconds: float = 2.0,
        poll_interval: float = 0.05,
        test_faults: bool = False,
        deny_network: bool = False,
    ) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.max_workers = max_workers
        self.memory_limit_bytes = memory_limit_bytes
        self.timeout_seconds = timeout_seconds
        self.max_jobs_per_worker = max_jobs_per_worker
        self.models_dir = os.fspath(models_dir) if models_dir else None
        self.cancel_grace_seconds = cancel_grace_seconds
        self.poll_interval = poll_interval
        self.test_faults = test_faults
        self.deny_network = deny_network
        self._ctx = multiprocessing.get_context(start_method)
        self._slots = threading.BoundedSemaphore(max_workers)
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------------
    def warm(self, count: int | None = None, timeout: float = 60.0) -> None:
        """Starts idle workers ahead of the first jobs and waits until they are ready."""
        with self._lock:
            started = self._spawn(count, preload=False)
        for worker in started:
            # Not idle before it is ready: only one thread may read a worker's pipe.
            worker.wait_ready(timeout)
            self._checkin(worker)

    def start(self, count: int | None = None) -> int:
        """Starts idle workers ahead of the first jobs without waiting for them; returns how many.

        Each is idle at once: the job that takes it reads its start-up report (only one thread
        may read a worker's pipe) and waits, if need be, for the rest of its start-up.
        """
        with self._lock:
            if self._closed:
                return 0
            started = self._spawn(count, preload=True)
            self._idle.extend(started)
            return len(started)

    def _spawn(self, count: int | None, *, preload: bool) -> list[_Worker]:
        """Up to ``count`` (default ``max_workers``) workers in all, counted in ``_all`` (under the lock)."""
        missing = min(count or self.max_workers, self.max_workers) - len(self._all)
        started = [_Worker(self._ctx, self.models_dir, self.test_faults, self.deny_network, preload=preload)
                   for _ in range(missing)]
        self._all.update(started)
        return started

    def network_modes(self) -> dict[int, str | None]:
        """Each worker's network policy as it reported it: "open", "namespace" or "guard"."""
        with self._lock:
            return {w.process.pid: w.network for w in self._all if w.process.pid}

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers = list(self._all)
            self._idle.clear()
            self._all.clear()
        for worker in workers:
            worker.stop()

    def __enter__(self) -> "ExtractionPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.process.pid for w in self._all if w.process.pid]

    # -- jobs ------------------------------------------------------------------------------------
    def run(
        self,
        provider_name: str,
        hosted_keys: dict[str, dict[str, Any]] | None,
        request: ExtractRequest,
        progress: Callable[[int, str], None] | None = None,
        cancel: CancelToken | None = None,
        timeout_seconds: float | None = None,
    ) -> Extraction:
        """Runs one extraction in a worker; raises ExtractionError with the failure's reason.

        Beyond the provider's own reasons: `provider_crashed` (the worker died), `too_large` (its
        memory passed the limit), `provider_timeout` (past `timeout_seconds`), `cancelled` (the
        token was set: the worker stops at its next page or stage, or is killed after a grace time).
        """
        if self._closed:
            raise ExtractionError("provider_crashed", "extraction pool is closed")
        report = progress or no_progress
        with self._slots:
            worker = self._checkout()
            try:
                timeout = self.timeout_seconds if timeout_seconds is None else timeout_seconds
                return self._drive(worker, provider_name, dict(hosted_keys or {}), request, report, cancel, timeout)
            finally:
                self._checkin(worker)

    def _checkout(self) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive():
                    return worker
                self._all.discard(worker)
            worker = _Worker(self._ctx, self.models_dir, self.test_faults, self.deny_network)
            self._all.add(worker)
            return worker

    def _checkin(self, worker: _Worker) -> None:
        retire = worker.killed_by_us or not worker.alive() or worker.jobs >= self.max_jobs_per_worker
        with self._lock:
            if retire or self._closed or len(self._idle) >= self.max_workers:
                self._all.discard(worker)
            else:
                self._idle.append(worker)
                return
        if worker.killed_by_us:
            return
        worker.stop()

    def _drive(
        self,
        worker: _Worker,
        provider_name: str,
        hosted_keys: dict[str, dict[str, Any]],
        request: ExtractRequest,
        progress: Callable[[int, str], None],
        cancel: CancelToken | None,
        timeout: float,
    ) -> Extraction:
        """Hand the job to the worker, then alternate between reading its messages and watching it."""
        run = _Run(job_id=next(_job_ids), timeout=timeout)
        worker.jobs += 1
        self._send_job(worker, run, provider_name, hosted_keys, request)
        try:
            while True:
                if worker.conn.poll(self.poll_interval):
                    result = self._receive(worker, run, progress)
                    if result is not None:
                        return result
                else:
                    self._supervise(worker, run, cancel)
        except BaseException:
            # Any failure in the caller's own code (a progress callback, KeyboardInterrupt) must not
            # leave a worker busy with an abandoned job.
            if not run.answered and worker.alive():
                worker.kill()
            raise

    @staticmethod
    def _send_job(worker: _Worker, run: _Run, provider_name: str, hosted_keys: dict[str, dict[str, Any]],
                  request: ExtractRequest) -> None:
        try:
            worker.conn.send(("job", run.job_id, provider_name, hosted_keys, request))
        except (OSError, ValueError) as exc:
            worker.kill()
            raise ExtractionError("provider_crashed", f"extraction worker unreachable: {exc}") from exc

    def _receive(self, worker: _Worker, run: _Run, progress: Callable[[int, str], None]) -> Extraction | None:
        """Handle one message from the worker: the result (returned), an error (raised), else None."""
        try:
            msg = worker.conn.recv()
        except (EOFError, OSError):
            raise self._death(worker) from None
        if msg[0] == "ready":
            worker.network = str(msg[2])
            return None
        if msg[1] != run.job_id:
            return None
        run.acknowledge()
        if msg[0] == "progress":
            progress(int(msg[2]), str(msg[3]))
        elif msg[0] == "result":
            run.answered = True
            result: Extraction = msg[2]
            return result
        elif msg[0] == "error":
            run.answered = True
            raise ExtractionError(msg[2], msg[3])
        return None  # "started", or a message this side does not know

    def _supervise(self, worker: _Worker, run: _Run, cancel: CancelToken | None) -> None:
        """Between messages: raise when the worker died, outgrew its memory, ran out of time, or was
        cancelled and did not stop within the grace time."""
        if not worker.alive():
            if worker.conn.poll(0):
                return  # drain what it sent before dying
            raise self._death(worker)
        rss = worker.rss_bytes()
        if rss is not None and rss > self.memory_limit_bytes:
            worker.kill()
            raise ExtractionError(
                "too_large",
                f"extraction used more than {self.memory_limit_bytes // (1024 * 1024)} MiB of memory",
            )
        now = time.monotonic()
        if now > run.deadline:
            worker.kill()
            raise ExtractionError("provider_timeout", f"extraction took longer than {run.timeout:g} s")
        if run.cancel_sent_at is None and _is_cancelled(cancel):
            run.cancel_sent_at = now
            try:
                worker.conn.send(("cancel", run.job_id))
            except (OSError, ValueError):
                pass
        if run.cancel_sent_at is not None and now - run.cancel_sent_at > self.cancel_grace_seconds:
            worker.kill()
            raise ExtractionError("cancelled", "job was cancelled")

    @staticmethod
    def _death(worker: _Worker) -> ExtractionError:
        worker.process.join(1)
        code = worker.process.exitcode
        worker.killed_by_us = True  # never reuse it
        worker.conn.close()
        if code is not None and code < 0:
            sig = -code
            name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
            if sig == signal.SIGKILL:
                return ExtractionError("too_large", "extraction worker was killed (out of memory)")
            return ExtractionError("provider_crashed", f"extraction worker crashed ({name})")
        return ExtractionError("provider_crashed", f"extraction worker exited unexpectedly (code {code})")



def pool_for(settings: Any) -> ExtractionPool:
    """The pool a process runs its jobs with (the server's or a worker host's), from its Settings."""
    return ExtractionPool(max_workers=max(1, settings.workers), timeout_seconds=settings.job_timeout_seconds,
                          models_dir=settings.models_dir, test_faults=settings.test_faults)

def _is_cancelled(cancel: CancelToken | None) -> bool:
    if cancel is None:
        return False
    is_set = getattr(cancel, "is_set", None)
    if callable(is_set):
        return bool(is_set())
    return bool(cancel())


# -- worker side ---------------------------------------------------------------------------------
def _worker_main(
    conn: Connection, models_dir: str | None, test_faults: bool, deny_network: bool, preload: bool = False
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    network = _deny_network() if deny_network else "open"  # first: unshare() needs a thread-free process
    from .engines import LocalEngines
    from .registry import build_registry

    engines = LocalEngines(models_dir)
    registries: dict[str, Any] = {}
    conn.send(("ready", 0, network))
    if preload:
        # A worker started ahead of its jobs imports the document path now (pypdfium2, layout
        # analysis and table detection, office readers, the thumbnail encoder) rather than
        # during its first job: 0.1-0.2 s of a first PDF otherwise.
        import PIL.Image
        import pypdfium2  # noqa: F401

        from roset_local.structure import tables  # noqa: F401

        from . import office, pdf  # noqa: F401

        PIL.Image.init()  # registers every image format plugin (the WebP thumbnail's among them)
        registries[_registry_key({})] = build_registry({}, engines=engines)
    freeze_startup_heap()  # the imported modules stay for the worker's life: full collections skip them
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if msg[0] == "stop":
            return
        if msg[0] != "job":
            continue  # a cancel that arrived after its job ended
        _, job_id, provider_name, hosted_keys, request = msg
        outcome: tuple[Any, ...]
        try:
            conn.send(("started", job_id))
            progress = _worker_progress(conn, job_id)
            if test_faults and request.options.get("_test_fault"):
                _test_fault(str(request.options["_test_fault"]), progress)
            key = _registry_key(hosted_keys)
            if key not in registries:
                if len(registries) >= 4:
                    registries.pop(next(iter(registries)))
                registries[key] = build_registry(hosted_keys, engines=engines)
            provider = registries[key].get(provider_name)
            if provider is None:
                raise ExtractionError("provider_not_configured", f"unknown provider {provider_name!r}")
            outcome = ("result", job_id, provider.extract(request, progress))
        except ExtractionError as exc:
            outcome = ("error", job_id, exc.reason, exc.message)
        except MemoryError:
            outcome = ("error", job_id, "too_large", "extraction ran out of memory")
        except Exception as exc:  # a library bug must fail the job, not the worker
            outcome = ("error", job_id, "provider_crashed", f"{type(exc).__name__}: {exc}"[:1000])
        try:
            conn.send(outcome)
        except (OSError, ValueError):
            return
        except Exception as exc:  # e.g. an unpicklable result
            conn.send(("error", job_id, "provider_crashed", f"result cannot be returned: {exc}"[:1000]))


def _registry_key(hosted_keys: dict[str, dict[str, Any]]) -> str:
    return json.dumps(hosted_keys, sort_keys=True, default=str)


def _deny_network() -> str:
    """Moves this process into a new, empty network namespace; a socket guard where that fails."""
    import ctypes
    import ctypes.util

    clone_newuser, clone_newnet = 0x10000000, 0x40000000
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.unshare(clone_newnet) == 0:  # enough privilege (root in a container)
            return "namespace"
        uid, gid = os.getuid(), os.getgid()
        if libc.unshare(clone_newuser | clone_newnet) == 0:  # unprivileged: map ourselves in a user ns
            for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
                try:
                    with open(f"/proc/self/{name}", "w") as fh:
                        fh.write(text)
                except OSError:
                    pass
            return "namespace"
    except (OSError, AttributeError):
        pass
    import socket

    def refuse(self: socket.socket, *args: Any, **kwargs: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise OSError("network access is disabled in extraction workers")
        return connect(self, *args, **kwargs)

    connect = socket.socket.connect
    socket.socket.connect = refuse  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign,assignment]
    return "guard"


def _worker_progress(conn: Connection, job_id: int) -> Callable[[int, str], None]:
    """Reports progress to the parent: the first report and 100 % at once, the others at most every
    PROGRESS_SECONDS (the job records progress at most twice a second anyway; a message a page was
    ~5% of a text PDF's extraction CPU, counting both sides). Stage texts name the page ("page 3/16"),
    so a throttle that let every new stage text through would let every page through."""
    last = [-PROGRESS_SECONDS]  # when the last report was sent

    def progress(percent: int, stage: str) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_SECONDS or percent >= 100:
            last[0] = now
            conn.send(("progress", job_id, percent, stage))
        # Progress reports double as the cancellation points between pages and stages.
        while conn.poll():
            msg = conn.recv()
            if msg[0] == "cancel" and msg[1] == job_id:
                raise ExtractionError("cancelled", "job was cancelled")
            if msg[0] == "stop":
                raise ExtractionError("cancelled", "worker is shutting down")

    return progress


def _test_fault(kind: str, progress: Callable[[int, str], None]) -> None:
    if kind == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif kind == "hog":
        hoard = []
        while True:
            hoard.append(b"x" * (32 * 1024 * 1024))
            time.sleep(0.005)
    elif kind == "sleep":
        time.sleep(3600)
    elif kind == "slow":
        for i in range(3600 * 20):
            progress(min(99, i), "slow")
            time.sleep(0.05)
    elif kind == "raise":
        raise RuntimeError("test fault")
