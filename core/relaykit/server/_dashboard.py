"""The dashboard: server-rendered pages (Jinja2) for jobs, runs, run detail and events.

Pages need a session: log in with a user (``relaykit users create``), an API key, or the
one-time link ``relaykit dev``/``serve`` print. Without one a page answers 401 with the login
form; every form carries a CSRF token tied to the session (403 without it), checked before
anything changes. Live regions (``data-live``) are refreshed by ``static/app.js``: when the
region's event stream (``data-stream``, ``server/_stream.py``) reports a change it fetches
the page once and swaps them in; without a stream, about once a second.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from .._base.serde import parse_json
from ..engine.operations import Operations
from ..engine.resources import RunPage
from ..errors import (
    InvalidCursor,
    JsonTooDeep,
    PayloadTooLarge,
    RelaykitError,
    StoreError,
    UnknownEvent,
    UnknownJob,
    UnknownRun,
)
from ..records import RunStatus
from ._auth import KEY_PREFIX, SESSION_SECONDS, Principal, Throttled
from ._state import ServerState
from ._views import (
    attempt_history,
    run_duration,
    seconds_text,
    short_time,
    status_widgets,
    task_tree,
    traceback_lines,
    who,
)

SESSION_COOKIE: Final = "relaykit_session"
LOGIN_CSRF_COOKIE: Final = "relaykit_login_csrf"
PAGE_SIZE: Final = 25
# Pages load only their own script and stylesheet (timeline bars and tree indentation are
# inline style attributes), and may not be framed: a framed page could be clicked through.
_PAGE_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; "
        "form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
_STATUSES: Final = [s.value for s in RunStatus]
#: The runs page's "since" choices: seconds back from now.
_SINCE: Final = {"1h": 3600.0, "24h": 86400.0, "7d": 7 * 86400.0}


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def make_templates(*, load_error: str | None = None) -> jinja2.Environment:
    """The template environment (templates shipped in ``relaykit/server/templates``);
    ``load_error`` is the banner every page shows (None: no banner)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("relaykit.server", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["pretty"] = _pretty
    env.filters["seconds"] = seconds_text
    env.filters["short_time"] = short_time
    env.filters["run_duration"] = run_duration
    env.filters["traceback_lines"] = traceback_lines
    env.filters["who"] = who
    env.globals["load_error"] = load_error
    return env


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.relaykit
    return state


def _base(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _render(
    request: Request, template: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    env: jinja2.Environment = request.app.state.templates
    principal: Principal | None = getattr(request.state, "principal", None)
    html = env.get_template(template).render(
        base=_base(request),
        principal=principal,
        csrf=principal.csrf_token() if principal else "",
        path=request.url.path,
        statuses=_STATUSES,
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=_PAGE_HEADERS)


async def _principal(request: Request) -> Principal | None:
    token = request.cookies.get(SESSION_COOKIE)
    state = _state(request)
    await state.client.open()
    principal = None if not token else await state.access.session(token)
    request.state.principal = principal
    return principal


def _login_page(
    request: Request, status: int, error: str | None = None, nxt: str | None = None
) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    if nxt is None:  # back to the page asked for after logging in, unless it was a login URL
        asked = request.url.path
        nxt = "" if asked.removeprefix(_base(request)).startswith("/login") else asked
    response = _render(request, "login.html", status, login_csrf=token, error=error, next=nxt)
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path=_base(request) or "/"
    )
    return response


PageFn = Callable[[Request, ServerState], Awaitable[Response]]
ActionFn = Callable[[Request, ServerState, Any], Awaitable[Response]]
Handler = Callable[[Request], Awaitable[Response]]


def page(fn: PageFn) -> Handler:
    """A GET page that needs a session (the login form with 401 without one)."""

    async def handle(request: Request) -> Response:
        if await _principal(request) is None:
            return _login_page(request, 401)
        response: Response = await fn(request, _state(request))
        response.headers["Cache-Control"] = "no-store"
        return response

    handle.__name__ = fn.__name__
    return handle


def action(fn: ActionFn) -> Handler:
    """A form POST that needs a session (401) and its CSRF token (403), checked before
    ``fn`` changes anything."""

    async def handle(request: Request) -> Response:
        principal = await _principal(request)
        if principal is None:
            return HTMLResponse("not logged in: log in to the dashboard first", status_code=401)
        form = await request.form()
        if not principal.check_csrf(str(form.get("csrf", ""))):
            return HTMLResponse(
                "missing or wrong CSRF token: reload the page and try again", status_code=403
            )
        response: Response = await fn(request, _state(request), form)
        return response

    handle.__name__ = fn.__name__
    return handle


def _path_id(request: Request, name: str) -> str:
    """A run or job id from the path; one no id can be (control characters, which PostgreSQL
    text cannot even hold) becomes "" and so finds nothing."""
    value = str(request.path_params[name])
    return value if value.isprintable() else ""


def _redirect(request: Request, path: str) -> RedirectResponse:
    return RedirectResponse(_base(request) + path, status_code=303)


def _with_session(request: Request, response: Response, token: str) -> Response:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_SECONDS),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path=_base(request) or "/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=_base(request) or "/")
    return response


# -- login ------------------------------------------------------------------------------------


async def login_form(request: Request) -> Response:
    """GET /login."""
    if await _principal(request) is not None:
        return _redirect(request, "/runs")
    return _login_page(request, 200)


async def login(request: Request) -> Response:
    """POST /login: a user name and password, or an API key."""
    state = _state(request)
    await state.client.open()
    request.state.principal = None
    form = await request.form()
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie, str(form.get("csrf", ""))):
        return HTMLResponse("missing or wrong CSRF token: reload the login page", status_code=403)
    nxt = str(form.get("next", ""))
    subject = await _check_login(request, state, form)
    if isinstance(subject, Throttled):
        return _throttled(request, subject.seconds, nxt)
    if subject is None:
        return _login_page(request, 401, "wrong user name, password or API key", nxt)
    token = await state.access.start_session(subject)
    response = RedirectResponse(_safe_next(request, nxt), status_code=303)
    return _with_session(request, response, token)


async def _check_login(request: Request, state: ServerState, form: Any) -> str | Throttled | None:
    """Who the form's credentials log in as (None: wrong ones), unless the throttle refuses
    the attempt before they are checked."""
    api_key = str(form.get("api_key", "")).strip()
    username = str(form.get("username", "")).strip()
    if not api_key and not username:
        return None
    # An API key's account is its id ("rk_<id>_<secret>"), a user's is the user name.
    key_id = api_key.removeprefix(KEY_PREFIX).partition("_")[0]
    account = f"key:{key_id}" if api_key else f"user:{username}"
    address = request.client.host if request.client else "unknown"
    slots = await state.access.claim_login([account], address)
    if isinstance(slots, Throttled):
        return slots
    subject = None
    if api_key:
        found = await state.access.check_key(api_key)
        subject = found.subject if found else None
    elif await state.access.check_user(username, str(form.get("password", ""))):
        subject = f"user:{username}"
    if subject is not None:
        await state.access.release_login(slots)
    return subject


def _throttled(request: Request, seconds: float, nxt: str) -> Response:
    wait = max(1, math.ceil(seconds))
    response = _login_page(
        request,
        429,
        f"too many failed logins for this account or from this address; try again in {wait} s",
        nxt,
    )
    response.headers["Retry-After"] = str(wait)
    return response


def _safe_next(request: Request, nxt: str) -> str:
    """Where to go after logging in: a path on this dashboard, never another site (browsers
    read ``//host`` and ``/\\host`` as other sites)."""
    base = _base(request)
    rest = nxt[len(base) :] if nxt.startswith(base) else ""
    if not rest.startswith("/") or rest[1:2] in ("/", "\\") or not rest.isprintable():
        return base + "/runs"
    return base + rest


async def login_link(request: Request) -> Response:
    """GET /login/link?token=...: the one-time link printed by ``relaykit dev``/``serve``."""
    state = _state(request)
    await state.client.open()
    token = await state.access.use_login_token(request.query_params.get("token", ""))
    if token is None:
        request.state.principal = None
        return _login_page(
            request, 401, error="this login link was used already or expired; log in below"
        )
    return _with_session(request, _redirect(request, "/runs"), token)


@action
async def logout(request: Request, state: ServerState, form: Any) -> Response:
    """POST /logout."""
    await state.access.end_session(request.cookies.get(SESSION_COOKIE, ""))
    response = _redirect(request, "/login")
    response.delete_cookie(SESSION_COOKIE, path=_base(request) or "/")
    return response


# -- pages ------------------------------------------------------------------------------------


async def home(request: Request) -> Response:
    """GET /: the runs page."""
    return _redirect(request, "/runs")


@page
async def jobs_page(request: Request, state: ServerState) -> Response:
    """GET /jobs: every job with its trigger, version, state and latest runs."""
    ops = await state.operations()
    jobs = []
    for job in ops.list_jobs().data:
        recent = await ops.list_runs(job=job.id, limit=5)
        jobs.append({**job.to_json(), "recent": recent.to_json()["data"]})
    return _render(request, "jobs.html", jobs=jobs)


async def _job_page(
    request: Request, state: ServerState, job_id: str, *, error: str | None, payload: str
) -> Response:
    ops = await state.operations()
    try:
        job = ops.get_job(job_id)
    except UnknownJob:
        return _render(request, "not_found.html", 404, what=f"job {job_id!r}")
    recent = await ops.list_runs(job=job.id, limit=10)
    return _render(
        request,
        "job.html",
        400 if error else 200,
        job=job.to_json(),
        next_fires=[t.isoformat() for t in ops.next_fire_times(job.id)],
        runs=recent.to_json()["data"],
        error=error,
        payload=payload,
    )


@page
async def job_page(request: Request, state: ServerState) -> Response:
    """GET /jobs/{job_id}: a job, its test-run form (for a cron or interval job, filled with
    the payload a fire now would get) and its recent runs."""
    job_id = _path_id(request, "job_id")
    try:
        example = (await state.operations()).example_payload(job_id)
    except UnknownJob:
        example = None  # _job_page answers 404
    payload = "{}" if example is None else _pretty(example)
    return await _job_page(request, state, job_id, error=None, payload=payload)


@action
async def test_run(request: Request, state: ServerState, form: Any) -> Response:
    """POST /jobs/{job_id}/test: queue a test run with the form's JSON payload."""
    job_id = _path_id(request, "job_id")
    text = str(form.get("payload", "")).strip() or "null"
    if job_id not in state.client.jobs:
        return _render(request, "not_found.html", 404, what=f"job {job_id!r}")
    try:
        payload = parse_json(text, what="the payload")
    except JsonTooDeep as exc:
        return await _job_page(request, state, job_id, error=exc.message, payload=text)
    except ValueError as exc:
        return await _job_page(
            request, state, job_id, error=f"the payload is not valid JSON: {exc}", payload=text
        )
    try:
        run = await (await state.operations()).test_run(job_id, payload)
    except StoreError:
        raise  # the database failed: a 503 page (server/__init__.py)
    except (PayloadTooLarge, RelaykitError) as exc:
        return await _job_page(request, state, job_id, error=str(exc), payload=text)
    return _redirect(request, f"/runs/{run.id}")


def _runs_query(request: Request) -> dict[str, str]:
    """The runs page's filters from its query string (job, status, since, version, tag); a
    value no filter takes is dropped, as if not given."""
    given = request.query_params
    query: dict[str, str] = {}
    job = given.get("job") or ""
    if job and job.isprintable():
        query["job"] = job
    if given.get("status") in _STATUSES:
        query["status"] = given["status"]
    if given.get("since") in _SINCE:
        query["since"] = given["since"]
    version = (given.get("version") or "").strip()
    if version and version.isprintable():
        query["version"] = version
    tag = (given.get("tag") or "").strip()
    if tag and tag.isprintable():
        query["tag"] = tag
    return query


@page
async def runs_page(request: Request, state: ServerState) -> Response:
    """GET /runs: runs newest first, filtered by job, status, age, job version and tag, a
    page at a time."""
    query = _runs_query(request)
    since = query.get("since")
    since_at = None if since is None else state.client.clock.now() - _SINCE[since]
    ops = await state.operations()

    async def page_after(cursor: str | None) -> RunPage:
        return await ops.list_runs(
            job=query.get("job"),
            status=query.get("status"),
            since=since_at,
            version=query.get("version"),
            tag=query.get("tag"),
            cursor=cursor,
            limit=PAGE_SIZE,
        )

    cursor = request.query_params.get("cursor") or None
    try:
        runs = await page_after(cursor)
    except InvalidCursor:  # a hand-edited link: start from the newest
        cursor = None
        runs = await page_after(None)
    return _render(
        request,
        "runs.html",
        runs=runs.to_json()["data"],
        job=query.get("job"),
        status=query.get("status"),
        since=since,
        since_choices=list(_SINCE),
        version=query.get("version", ""),
        tag=query.get("tag", ""),
        job_ids=sorted(state.client.jobs),
        filters=query,
        first_link=("?" + urlencode(query)) if cursor else None,
        stream_url=None if cursor else _runs_stream_url(request, query, ops, runs),
        next_link=(
            "?" + urlencode({**query, "cursor": runs.next_cursor}) if runs.next_cursor else None
        ),
    )


def _runs_stream_url(
    request: Request, query: dict[str, str], ops: Operations, shown: RunPage
) -> str:
    """The event stream of the runs page's first page (``server/_stream.py``): by job and
    status; the page's other filters (age, version) narrow what the refresh shows. Without
    those, the page shown is the stream's, and its state id is passed along: the stream
    then reports only what changes after."""
    wanted: dict[str, str | int] = {k: query[k] for k in ("job", "status") if k in query}
    wanted["limit"] = PAGE_SIZE
    if "since" not in query and "version" not in query:
        wanted["last_event_id"] = ops.runs_state_id(shown)
    return f"{_base(request)}/api/v1/runs/stream?" + urlencode(wanted)


@page
async def run_page(request: Request, state: ServerState) -> Response:
    """GET /runs/{run_id}: the task tree and timeline, payload, output, error and logs."""
    return await _run_view(request, state, _path_id(request, "run_id"))


async def _run_view(
    request: Request,
    state: ServerState,
    run_id: str,
    *,
    replay_error: str | None = None,
    replay_payload: str | None = None,
) -> Response:
    """The run page; with ``replay_error``, the edited replay form shows it and the text
    given (``replay_payload``) instead of the run's payload."""
    try:
        run = await (await state.operations()).get_run(run_id)
    except UnknownRun:
        return _render(request, "not_found.html", 404, what=f"run {run_id!r}")
    now = datetime.now(UTC)
    data = run.to_json()
    start, end = run.started_at, run.ended_at or now
    return _render(
        request,
        "run.html",
        run={k: v for k, v in data.items() if k not in ("tasks", "logs")},
        ended=run.status.is_terminal,
        duration=None if start is None else (end - start).total_seconds(),
        rows=task_tree(run, now),
        history=attempt_history(run),
        stream_id=(await state.operations()).run_state_id(run),
        logs=data["logs"],
        job_known=run.job in state.client.jobs,
        current_code=(
            state.client.jobs[run.job].fingerprint if run.job in state.client.jobs else None
        ),
        tokens=[] if run.status.is_terminal else await _waiting_tokens(state, run.id),
        replay_error=replay_error,
        replay_payload=_pretty(run.payload) if replay_payload is None else replay_payload,
        statuses_shown=status_widgets(run),
    )


async def _waiting_tokens(state: ServerState, run_id: str) -> list[dict[str, Any]]:
    """The run's waitpoint tokens still waiting (its page offers Approve/Reject for each;
    the form's route is ``_dashboard_tokens``)."""
    tokens = await (await state.operations()).list_tokens(run_id=run_id)
    return [t.to_json() for t in tokens.data if t.status == "waiting"]


@action
async def cancel_run(request: Request, state: ServerState, form: Any) -> Response:
    """POST /runs/{run_id}/cancel."""
    run_id = _path_id(request, "run_id")
    try:
        await (await state.operations()).cancel_run(run_id)
    except UnknownRun:
        return _render(request, "not_found.html", 404, what=f"run {run_id!r}")
    return _redirect(request, f"/runs/{run_id}")


@action
async def replay_run(request: Request, state: ServerState, form: Any) -> Response:
    """POST /runs/{run_id}/replay: a new run with the same payload, or with the form's
    edited ``payload`` (invalid JSON: the run page again with the parse error, nothing
    queued; a 200, as the job page's refused test form, so the browser logs no error)."""
    run_id = _path_id(request, "run_id")
    extra: dict[str, Any] = {}
    if "payload" in form:
        text = str(form.get("payload", "")).strip() or "null"
        try:
            extra["payload"] = parse_json(text, what="the payload")
        except JsonTooDeep as exc:
            return await _run_view(
                request,
                state,
                run_id,
                replay_error=exc.message,
                replay_payload=text,
            )
        except ValueError as exc:
            why = f"the payload is not valid JSON: {exc}; nothing was queued"
            return await _run_view(request, state, run_id, replay_error=why, replay_payload=text)
    try:
        new = await (await state.operations()).replay_run(run_id, **extra)
    except (UnknownRun, UnknownJob):
        return _render(request, "not_found.html", 404, what=f"run {run_id!r} or its job")
    except PayloadTooLarge as exc:
        return await _run_view(
            request,
            state,
            run_id,
            replay_error=str(exc),
            replay_payload=str(form.get("payload", "")),
        )
    return _redirect(request, f"/runs/{new.id}")


@page
async def event_page(request: Request, state: ServerState) -> Response:
    """GET /events/{event_id}: an event, its payload and the runs it started."""
    event_id = _path_id(request, "event_id")
    try:
        found = await (await state.operations()).event_runs(event_id)
    except UnknownEvent:
        return _render(request, "not_found.html", 404, what=f"event {event_id!r}")
    return _render(
        request,
        "event.html",
        event=found.event.to_json(),
        runs=[r.to_json() for r in found.runs],
    )


@page
async def search_page(request: Request, state: ServerState) -> Response:
    """GET /search?q=: runs by id or id prefix or payload/output text, events by id; one
    run or event found by its exact id opens it."""
    text = request.query_params.get("q", "").strip()
    if not text.isprintable():
        text = ""
    found = await (await state.operations()).search(text, limit=PAGE_SIZE)
    if len(found.runs) == 1 and found.runs[0].id == text and not found.events:
        return _redirect(request, f"/runs/{text}")
    if len(found.events) == 1 and not found.runs:
        return _redirect(request, f"/events/{text}")
    return _render(
        request,
        "search.html",
        q=text,
        runs=[r.to_json() for r in found.runs],
        events=[e.to_json() for e in found.events],
    )


@page
async def events_page(request: Request, state: ServerState) -> Response:
    """GET /events: the newest events."""
    events = await (await state.operations()).list_events(limit=100)
    return _render(request, "events.html", events=events.to_json()["data"])


def dashboard_routes() -> list[Route]:
    """The dashboard's routes (relative to the app's root)."""
    return [
        Route("/", home, methods=["GET"]),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/login/link", login_link, methods=["GET"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/jobs", jobs_page, methods=["GET"]),
        Route("/jobs/{job_id}", job_page, methods=["GET"]),
        Route("/jobs/{job_id}/test", test_run, methods=["POST"]),
        Route("/runs", runs_page, methods=["GET"]),
        Route("/runs/{run_id}", run_page, methods=["GET"]),
        Route("/runs/{run_id}/cancel", cancel_run, methods=["POST"]),
        Route("/runs/{run_id}/replay", replay_run, methods=["POST"]),
        Route("/events", events_page, methods=["GET"]),
        Route("/events/{event_id}", event_page, methods=["GET"]),
        Route("/search", search_page, methods=["GET"]),
    ]
