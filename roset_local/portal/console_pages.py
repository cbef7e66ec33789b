"""Console pages for day-to-day work: sign-in, dashboard, files (upload), file detail, jobs, search, Q&A."""

from __future__ import annotations

import json
from typing import Any

from litestar import Request, Response
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, ServerSentEvent, Template

from roset_local import audit
from roset_local.access import content_url, visible_file, visible_job
from roset_local.handlers import blocking, caller, with_body
from roset_local.inputs import check_query
from roset_local.shapes import file_out, job_out, upload_body
from roset_local.errors import BadRequest, NotFound, RosetError
from roset_local.pagination import decode_cursor, encode_cursor
from roset_local.pipeline import intake, lifecycle
from roset_local.portal import features, render, roles, users
from roset_local.positions.pages import DEFAULT_WIDTH, page_png
from roset_local.positions.view import page_view
from roset_local.portal.web import (LOGIN_CSRF_COOKIE, action, check_csrf, current_session, flash_redirect, form_of,
                                    new_login_csrf, page, require_session, run, services_of, session_cookie,
                                    template)
from roset_local.index.search import search_file_ids
from roset_local.store import analytics
from roset_local.store import files as file_store
from roset_local.store import jobs as job_store
from roset_local.store import variants as variant_store
from litestar.datastructures import Cookie

PAGE_SIZE = 50


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console"


# -- sign-in ------------------------------------------------------------------------------------


@page("/", access=roles.ANYONE)
async def root() -> Redirect:
    return Redirect(path="/console", status_code=303)


@page("/console/login", access=roles.ANYONE)
async def login_form(request: Request, next: FromQuery[str | None] = None) -> Template:
    if await run(current_session, request) is not None:
        return Redirect(path=_safe_next(next), status_code=303)  # type: ignore[return-value]
    token = new_login_csrf()
    response = template(request, "console/login.html", login_csrf=token, next=_safe_next(next), username="")
    response.cookies.append(Cookie(key=LOGIN_CSRF_COOKIE, value=token, path="/console/login", httponly=True,
                                   samesite="strict", max_age=3600))
    return response


@action("/console/login", access=roles.ANYONE, status_code=200)
async def login_submit(request: Request) -> Response:
    form = await request.form()
    expected = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    presented = form.get("_csrf") or ""
    next_path = _safe_next(form.get("next"))
    username = (form.get("username") or "").strip()
    if not expected or expected != presented:
        message, status = "Your sign-in form expired: please try again", 403
    else:
        try:
            session, raw = await run(users.sign_in, services_of(request).db, username, form.get("password") or "",
                                     audit.anonymous(request, username))
        except users.SignInError as exc:
            message, status = str(exc), 423 if exc.locked else 401
        else:
            redirect = Redirect(path=next_path, status_code=303)
            redirect.cookies.append(session_cookie(request, raw, int(users.SESSION_TTL.total_seconds())))
            return redirect
    token = new_login_csrf()
    response = template(request, "console/login.html", login_csrf=token, next=next_path, username=username,
                        error=message)
    response.status_code = status
    response.cookies.append(Cookie(key=LOGIN_CSRF_COOKIE, value=token, path="/console/login", httponly=True,
                                   samesite="strict", max_age=3600))
    return response


@action("/console/logout", access=roles.SIGNED_IN)
async def logout(request: Request) -> Redirect:
    session, _ = await form_of(request)
    await run(users.sign_out, services_of(request).db, session)
    response = Redirect(path="/console/login", status_code=303)
    response.cookies.append(session_cookie(request, None, 0))
    return response


# -- dashboard -----------------------------------------------------------------------------------


@page("/console")
@blocking
def dashboard(request: Request) -> Template:
    services, spaces = services_of(request), caller(request).spaces
    db = services.db
    days = analytics.window(30)
    context: dict[str, Any] = {"overview": analytics.overview(db, spaces)}
    volume = analytics.volume(db, spaces, days)["data"]
    trends = analytics.trends(db, spaces, days)["data"]
    growth = analytics.storage_growth(db, spaces, days)["data"]
    context["volume_svg"] = render.bar_chart(
        volume, [("uploads", "uploads", "s1"), ("processed", "processed", "s2")], "Uploads and processed files per day")
    context["trends_svg"] = render.bar_chart(
        trends, [("completed", "completed", "s2"), ("failed", "failed", "s3")], "Completed and failed jobs per day")
    context["growth_svg"] = render.line_chart(growth, "total_bytes", "Storage used", fmt=render.size)
    context["storage_total"] = growth[-1]["total_bytes"] if growth else 0
    context["failures"] = analytics.recent_failures(db, spaces, 5)["failures"]
    context["spaces"] = file_store.list_spaces(services.db, spaces)
    return template(request, "console/dashboard.html", nav="dashboard", **context)


# -- files ---------------------------------------------------------------------------------------


def _file_rows(services: Any, *, spaces: tuple[str, ...] | None, status: str | None, q: str | None, sort: str, order: str,
               cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    if sort not in file_store.SORT_COLUMNS or order not in ("asc", "desc"):
        raise BadRequest("Unknown sort order")
    if status and status not in file_store.FILE_STATUSES:
        raise BadRequest("Unknown status")
    raw = decode_cursor(cursor, 4)
    if raw is not None and raw[:2] != [sort, order]:
        raw = None
    content_ids = None
    if q and check_query(q, "q"):
        content_ids = search_file_ids(services.db, q, spaces, limit=200)
    rows = file_store.list_files(services.db, spaces=spaces, status=status or None, search=q or None,
                                 content_ids=content_ids, metadata={}, sort_by=sort, sort_order=order,
                                 limit=PAGE_SIZE, cursor=raw[2:] if raw else None)
    next_cursor = None
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        next_cursor = encode_cursor([sort, order, rows[-1]["_sort"], rows[-1]["id"]])
    return rows, next_cursor


@page("/console/files")
@blocking
def files_page(request: Request, space: FromQuery[str | None] = None, status: FromQuery[str | None] = None,
               q: FromQuery[str | None] = None, sort: FromQuery[str] = "created_at", order: FromQuery[str] = "desc",
               cursor: FromQuery[str | None] = None, partial: FromQuery[bool] = False) -> Template:
    """The files table; ``partial=1`` answers only its rows (the page reloads them after uploads)."""
    services, principal = services_of(request), caller(request)
    rows, next_cursor = _file_rows(services, spaces=principal.space_filter(space or None), status=status, q=q,
                                   sort=sort, order=order, cursor=cursor)
    if partial:
        return template(request, "console/_file_rows.html", files=rows)
    spaces = [r["space"] for r in file_store.list_spaces(services.db, principal.spaces)]
    return template(request, "console/files.html", nav="files", files=rows, next_cursor=next_cursor,
                    spaces=spaces, f_space=space or "", f_status=status or "", f_q=q or "", sort=sort, order=order,
                    upload_space=principal.spaces[0] if principal.spaces else "default",
                    statuses=file_store.FILE_STATUSES, sorts=list(file_store.SORT_COLUMNS), cursor=cursor)


@action("/console/api/upload", status_code=201, request_max_body_size=None)
async def console_upload(request: Request, space: FromQuery[str | None] = None) -> Response:
    """The drop zone's XHR target: the same intake as ``POST /v1/upload``, as the signed-in user."""
    check_csrf(request, await run(require_session, request))
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise BadRequest("Send the file as multipart/form-data")
    services, principal = services_of(request), caller(request)
    file, job = await with_body(
        request, lambda chunks: intake.ingest_multipart(services, principal, ctype, chunks, space or None)
    )
    return Response(upload_body(file, job), status_code=201)


@page("/console/api/files/status")
@blocking
def files_status(request: Request, ids: FromQuery[str] = "") -> dict[str, Any]:
    db, principal = services_of(request).db, caller(request)
    out: dict[str, Any] = {}
    for file_id in [i for i in ids.split(",") if i][:200]:
        file = file_store.get_file(db, file_id)
        if file is None or not principal.can_see(file["space"]):
            out[file_id] = {"status": "deleted"}
            continue
        job = job_store.latest_job(db, file_id)
        out[file_id] = {"status": file["status"], "job_status": job["status"] if job else None,
                        "progress": job["progress"] if job else None, "stage": job["stage"] if job else None,
                        "error": file["error"]}
    return {"files": out}


@page("/console/files/{file_id:str}")
@blocking
def file_page(request: Request, file_id: FromPath[str], page: FromQuery[int | None] = None,
              bbox: FromQuery[str | None] = None) -> Template:
    """``?page=N&bbox=x0,y0,x1,y1`` (from a search hit or a Q&A source) shows that page, the region marked."""
    services = services_of(request)
    # one snapshot: a job finishing meanwhile must not show a completed file without its variants
    with services.db.read():
        file = visible_file(services, request, file_id)
        variants = variant_store.list_variants(services.db, file_id, with_content=False)
        types = {v["type"]: v for v in variants}
        thumb = content_url(services, file_id, "thumbnail") if types.get("thumbnail", {}).get("blob_key") else None
        markdown = variant_store.markdown_of(services.db, file_id)
        meta_variant = variant_store.get_variant(services.db, file_id, "metadata") if "metadata" in types else None
        extracted = None
        if meta_variant and meta_variant.get("content"):
            try:
                extracted = json.loads(meta_variant["content"])
            except ValueError:
                extracted = None
        jobs = job_store.jobs_for_file(services.db, file_id)
        return template(request, "console/file.html", nav="files", file=file_out(file), variants=variants,
                        thumbnail=thumb, markdown_html=render.markdown(markdown), extracted=extracted,
                        jobs=[job_out(j) for j in reversed(jobs)], download=content_url(services, file_id, "file"),
                        pageview=page_view(services, file, extracted, page, bbox, f"/console/files/{file_id}/pages"))


@page("/console/files/{file_id:str}/pages/{number:int}")
@blocking
def file_page_image(request: Request, file_id: FromPath[str], number: FromPath[int],
                    width: FromQuery[int] = DEFAULT_WIDTH) -> Response:
    """The page view's image: the same rendering as ``GET /v1/files/:id/pages/:n``."""
    services = services_of(request)
    file = visible_file(services, request, file_id)
    return Response(page_png(services, file, number, width), media_type="image/png",
                    headers={"Cache-Control": "private, max-age=3600"})


@action("/console/files/{file_id:str}/reprocess")
async def file_reprocess(request: Request, file_id: FromPath[str]) -> Redirect:
    await form_of(request)
    services = services_of(request)

    def go() -> None:
        file = visible_file(services, request, file_id)
        lifecycle.start_processing(services, file, {})

    try:
        await run(go)
    except RosetError as exc:
        return flash_redirect(f"/console/files/{file_id}", exc.message, error=True)
    return flash_redirect(f"/console/files/{file_id}", "Reprocessing started")


@action("/console/files/{file_id:str}/delete")
async def file_delete(request: Request, file_id: FromPath[str]) -> Redirect:
    await form_of(request)
    services = services_of(request)
    file = await run(visible_file, services, request, file_id)
    await run(lifecycle.delete_file, services, file_id, audit.actor_of(request))
    return flash_redirect("/console/files", f"Deleted {file['filename']}")


# -- jobs ----------------------------------------------------------------------------------------


@page("/console/jobs")
@blocking
def jobs_page(request: Request, status: FromQuery[str | None] = None, cursor: FromQuery[str | None] = None,
              partial: FromQuery[bool] = False) -> Template:
    if status and status not in job_store.JOB_STATUSES:
        raise BadRequest("Unknown status")
    db = services_of(request).db
    rows = job_store.list_jobs(db, spaces=caller(request).spaces, status=status or None, file_id=None, limit=PAGE_SIZE,
                               cursor=decode_cursor(cursor, 2))
    next_cursor = None
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        next_cursor = encode_cursor([rows[-1]["created_at"], rows[-1]["id"]])
    names = {}
    for r in rows:
        f = file_store.get_file(db, r["file_id"])
        names[r["file_id"]] = f["filename"] if f else r["file_id"]
    name = "console/_jobs_table.html" if partial else "console/jobs.html"
    return template(request, name, nav="jobs", jobs=rows, names=names, next_cursor=next_cursor,
                    f_status=status or "", statuses=job_store.JOB_STATUSES)


@action("/console/jobs/{job_id:str}/{verb:str}")
async def job_action(request: Request, job_id: FromPath[str], verb: FromPath[str]) -> Redirect:
    await form_of(request)
    services = services_of(request)
    fn = {"cancel": lifecycle.cancel_job, "retry": lifecycle.retry_job}.get(verb)
    if fn is None:
        raise NotFound("Unknown action")
    try:
        await run(visible_job, services, request, job_id)
        job = await run(fn, services, job_id)
    except RosetError as exc:
        return flash_redirect("/console/jobs", exc.message, error=True)
    return flash_redirect("/console/jobs", f"Job {job['id']} is {job['status']}")


# -- search and Q&A ------------------------------------------------------------------------------


@page("/console/search")
@blocking
def search_page(request: Request, q: FromQuery[str | None] = None, mode: FromQuery[str] = "hybrid",
                space: FromQuery[str | None] = None) -> Template:
    services, principal = services_of(request), caller(request)
    result, problem = None, None
    if q and q.strip():
        try:
            result = features.search(services, q, spaces=principal.space_filter(space or None), mode=mode, limit=20)
        except RosetError as exc:
            problem = exc.message
    spaces = [r["space"] for r in file_store.list_spaces(services.db, principal.spaces)]
    return template(request, "console/search.html", nav="search", q=q or "", mode=mode, f_space=space or "",
                    spaces=spaces, result=result, problem=problem, modes=("hybrid", "text", "vector"))


@page("/console/qa")
@blocking
def qa_page(request: Request) -> Template:
    spaces = [r["space"] for r in file_store.list_spaces(services_of(request).db, caller(request).spaces)]
    return template(request, "console/qa.html", nav="qa", spaces=spaces)


@page("/console/api/qa/stream")
async def qa_stream(request: Request, question: FromQuery[str] = "", space: FromQuery[str | None] = None
                    ) -> ServerSentEvent:
    services = services_of(request)
    spaces = caller(request).space_filter(space or None)
    return ServerSentEvent(sse_events(lambda: features.answer_events(services, question, spaces=spaces)))


async def sse_events(make: Any) -> Any:
    """Contract-shaped events; a problem becomes an ``error`` event the page can show."""
    try:
        async for event in features.in_thread(make):
            yield json.dumps(event)
    except RosetError as exc:
        yield json.dumps({"type": "error", "error": exc.message})
        yield json.dumps({"type": "done"})


ROUTES = [root, login_form, login_submit, logout, dashboard, files_page, console_upload, files_status, file_page,
          file_page_image, file_reprocess, file_delete, jobs_page, job_action, search_page, qa_page, qa_stream]
