"""``Integration``: the base class of integration plugins, and ``@task``/``api_task`` for
their methods.

An integration instance (``GitHub(id="github", token=...)``) is declared on a job
(``integrations={"github": github}``). Inside a run, ``io.github`` (or ``io.use(github)``) is a
copy of it *bound* to the run: each ``@task`` method called on it is an ``io.run_task`` with
the call's keyword arguments as params (``redact=`` names are recorded as ``[redacted]``; the
token never is). The task resolves credentials, builds the authenticated client with
``create_client``, calls the method with it, and maps a failure through ``classify_error``:
``RetryAfter`` and ``NonRetriable`` steer the engine's retries, anything else is retried by the
``retry`` policy. Each execution goes through the ``relaykit_wrap_task`` hook.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import re
import time
import typing
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Concatenate, Generic, ParamSpec, TypeVar, overload

from .. import http
from .._base.serde import dumps, return_hint
from .._base.sync import Bridged
from ..definitions.retry import Retry
from ..errors import (
    IntegrationError,
    MissingConnection,
    NonRetriable,
    RelaykitError,
    RetryAfter,
    WebhookRejected,
)
from .auth import Connections, Credentials, OAuth2, redact_json
from .webhooks import (
    WebhookEvent,
    WebhookExample,
    WebhookRequest,
    WebhookResponse,
    WebhookSecrets,
)

if TYPE_CHECKING:
    import httpx2  # imported where it is used: `import relaykit` stays light

    from ..engine.runner import Attempt
    from .plugins import Plugins

S = TypeVar("S", bound="Integration")
P = ParamSpec("P")
R = TypeVar("R")
Fn = TypeVar("Fn", bound=Callable[..., Any])

_SLUG = re.compile(r"^[a-z][a-z0-9_-]*$")
#: Client errors a retry may fix: timeout, conflict, too early, rate limited.
_RETRIABLE_4XX = frozenset({408, 409, 425, 429})
REDACTED = "[redacted]"
#: ``task(returns=)`` not given: the method's own return annotation is the output's type.
_FROM_ANNOTATION: Any = object()


class TaskMethod(Generic[S, P, R]):
    """A ``@task`` method: on a bound integration, a call becomes a memoized task.

    The method is written as ``async def name(self, client, **params) -> R``; it is called as
    ``await io.github.name("key", **params)``.
    """

    def __init__(
        self,
        fn: Callable[Concatenate[S, Any, P], Awaitable[R]],
        *,
        name: str | None,
        icon: str | None,
        retry: Retry | None,
        redact: tuple[str, ...],
        returns: Any = _FROM_ANNOTATION,
    ) -> None:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"@task needs an `async def` method, got {fn!r}")
        self.fn = fn
        self.attr = fn.__name__
        self.name = name
        self.icon = icon
        self.retry = retry
        self.redact = frozenset(redact)
        self.returns = returns
        self.signature = inspect.signature(fn)
        self.__doc__ = fn.__doc__

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr

    @overload
    def __get__(self, obj: None, owner: type) -> TaskMethod[S, P, R]: ...

    @overload
    def __get__(
        self, obj: S, owner: type
    ) -> Callable[Concatenate[str, P], Coroutine[Any, Any, R]]: ...

    def __get__(self, obj: S | None, owner: type) -> Any:
        if obj is None:
            return self
        method = self

        async def call(key: str, /, *args: Any, **kwargs: Any) -> Any:
            return await obj._call_task(method, key, args, kwargs)

        call.__name__ = self.attr
        call.__qualname__ = f"{owner.__name__}.{self.attr}"
        call.__doc__ = self.fn.__doc__
        return call

    def task_name(self, integration: Integration) -> str:
        """The recorded task name (``name=``, else ``<slug>.<method>``)."""
        return self.name or f"{integration.slug}.{self.attr}"


def task(
    *,
    name: str | None = None,
    icon: str | None = None,
    retry: Retry | None = None,
    redact: tuple[str, ...] = (),
    returns: Any = _FROM_ANNOTATION,
) -> Callable[[Callable[Concatenate[S, Any, P], Awaitable[R]]], TaskMethod[S, P, R]]:
    """Declare an ``Integration`` method as a task: ``async def m(self, client, **params)``.

    ``name``/``icon`` are shown with the task; ``retry`` is its policy (default ``Retry()``);
    ``redact`` names parameters recorded as ``[redacted]`` (secrets passed as arguments).
    ``returns`` is the type a replayed output is restored into, for a method whose own return
    annotation does not say it (one generated from an API function); default: the annotation.
    """

    def wrap(fn: Callable[Concatenate[S, Any, P], Awaitable[R]]) -> TaskMethod[S, P, R]:
        return TaskMethod(
            fn, name=name, icon=icon, retry=retry, redact=tuple(redact), returns=returns
        )

    return wrap


def api_task(
    fn: Callable[Concatenate[httpx2.AsyncClient, P], Awaitable[R]],
    *,
    name: str | None = None,
    icon: str | None = None,
    retry: Retry | None = None,
    redact: tuple[str, ...] = (),
) -> TaskMethod[Any, P, R]:
    """A task method made from an API function ``async def fn(client, **params) -> R``.

    A plugin writes each vendor call once, as a plain function of an ``httpx2.AsyncClient``
    (usable with any client), and declares it on its ``Integration`` as
    ``post_message = relaykit.api_task(_chat.post_message, icon="message-square")``: the task's
    params are ``fn``'s keyword arguments, its docstring and signature are ``fn``'s, and a
    replayed output is restored into ``fn``'s return annotation. ``name``, ``icon``, ``retry``
    and ``redact`` are ``@task``'s.
    """

    async def method(self: Any, client: httpx2.AsyncClient, /, *a: P.args, **k: P.kwargs) -> R:
        return await fn(client, *a, **k)

    params = list(inspect.signature(fn).parameters.values())[1:]
    head = [
        inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY),
        inspect.Parameter("client", inspect.Parameter.POSITIONAL_ONLY),
    ]
    # Resolved here, in the API function's own namespace, and given to TaskMethod as
    # ``returns``: every method made here shares one code object, so nothing keyed by code
    # object may decide a replayed output's type.
    returns = typing.get_type_hints(fn).get("return", Any)
    # inspect.signature (and so the recorded params) honours __signature__; mypy does not
    # know the attribute.
    method.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        head + params, return_annotation=returns
    )
    method.__name__ = fn.__name__
    method.__qualname__ = fn.__qualname__
    method.__doc__ = fn.__doc__
    method.__annotations__ = {"return": returns}
    method.__module__ = fn.__module__
    return TaskMethod(method, name=name, icon=icon, retry=retry, redact=redact, returns=returns)


@dataclass(frozen=True, slots=True)
class _Binding:
    attempt: Attempt
    plugins: Plugins


@dataclass(frozen=True, slots=True)
class _Spec:
    """How one integration task is recorded."""

    name: str
    params: dict[str, Any] | None
    icon: str | None
    retry: Retry | None
    properties: dict[str, Any]
    hint: Any
    redact: frozenset[str]


class Integration(Bridged, ABC):
    """Base class of integrations (GitHub, Slack, ... and your own).

    Class attributes describe the integration: ``slug`` (its plugin name, default the class
    name in lowercase), ``name``, ``icon``, ``docs_url``, ``auth_modes`` (``"token"``,
    ``"oauth2"``), ``token_env`` (the default environment variable of the API token) and
    ``oauth`` (an ``OAuth2`` provider). Subclasses implement ``create_client`` and declare task
    methods with ``@task``; they may refine ``classify_error``.

    ``id`` names this instance (its stored connection is found by it). ``token=`` gives an API
    token, ``token_env=`` the variable to read it from when a task runs; with neither, the
    connection stored for ``id`` is used (``relaykit connect ID``). ``transport`` replaces the
    HTTP transport (``httpx2.MockTransport`` in tests).
    """

    slug: ClassVar[str] = ""
    name: ClassVar[str] = ""
    icon: ClassVar[str] = "plug"
    docs_url: ClassVar[str | None] = None
    auth_modes: ClassVar[tuple[str, ...]] = ("token",)
    token_env: ClassVar[str | None] = None
    oauth: ClassVar[OAuth2 | None] = None
    webhook_secret_name: ClassVar[str | None] = None
    """The name of the secret ``handle_webhook`` verifies deliveries with, among a webhook
    source's stored secrets (``relaykit webhooks secret set`` stores it under this name);
    None: the integration receives no webhooks, or keeps no stored secret."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("slug"):
            cls.slug = cls.__name__.lower()
        if not _SLUG.match(cls.slug):
            raise TypeError(f"{cls.__name__}.slug {cls.slug!r} must match {_SLUG.pattern}")
        if not cls.__dict__.get("name"):
            cls.name = cls.__name__

    def __init__(
        self,
        id: str,
        *,
        token: str | None = None,
        token_env: str | None = None,
        oauth: OAuth2 | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        if not isinstance(id, str) or not _SLUG.match(id):
            raise ValueError(
                f"{type(self).__name__}(id={id!r}): the id must be lowercase letters, digits, "
                "'-' or '_', starting with a letter (e.g. id='github')"
            )
        self.id = id
        self._token = token
        self._token_env = token_env
        self._oauth = oauth or type(self).oauth
        self.transport = transport
        self._binding: _Binding | None = None

    def __repr__(self) -> str:
        bound = " bound" if self._binding is not None else ""
        return f"<{type(self).__name__} id={self.id!r}{bound}>"

    # -- what subclasses provide ------------------------------------------------------------

    @abstractmethod
    def create_client(self, credentials: Credentials) -> Any:
        """An authenticated API client (``httpx2.AsyncClient`` or a vendor SDK client with its
        own retries switched off: the engine is the only retry owner). ``http_client`` makes
        a suitable httpx2 client.

        Inside runs the engine calls it once per credentials and reuses the client for every
        task of this integration (so its connections are kept alive between API calls), and
        closes it when the engine closes or the credentials change. It must therefore be safe
        to use from concurrent tasks, as ``httpx2.AsyncClient`` and the vendor SDKs are."""

    def classify_error(self, exc: Exception) -> BaseException | None:
        """Map a task's exception to how the engine should treat it.

        Return ``RetryAfter(seconds)`` to retry after exactly that delay, a ``NonRetriable``
        to fail at once, or None to let the task's retry policy decide. The default reads
        ``httpx2.HTTPStatusError``: 429 (or 403 with an exhausted rate limit) becomes
        ``RetryAfter`` with the server's ``Retry-After``/``X-RateLimit-Reset``; other 4xx,
        except 408, 409 and 425, become ``NonRetriable``.
        """
        import httpx2

        if not isinstance(exc, httpx2.HTTPStatusError):
            return None
        response = exc.response
        status = response.status_code
        summary = (
            f"{self.name} API: {response.request.method} {response.request.url.path} -> {status}"
        )
        limited = status == 429 or (
            status == 403 and response.headers.get("x-ratelimit-remaining") == "0"
        )
        if limited:
            return RetryAfter(rate_limit_delay(response.headers, time.time()), summary)
        if 400 <= status < 500 and status not in _RETRIABLE_4XX:
            return NonRetriable(f"{summary}: {response.text[:200]}")
        return None

    async def handle_webhook(
        self, request: WebhookRequest, secrets: WebhookSecrets
    ) -> WebhookResponse:
        """Verify and parse one delivery to ``/webhooks/{id}/{source_id}``.

        Return the response and the events to send; raise ``WebhookRejected(status, message)``
        for a bad delivery (401 a bad or missing signature, 400 a malformed one). ``secrets``
        are this source's stored secrets. The default has no webhooks: 404.
        """
        raise WebhookRejected(
            404, f"integration {self.id!r} ({type(self).__name__}) does not receive webhooks"
        )

    async def webhook_secret(self, secrets: WebhookSecrets) -> str | None:
        """The secret deliveries to this source are verified with (what ``relaykit webhooks
        send`` signs its examples with). Default: the stored ``webhook_secret_name``; an
        integration that also reads one from elsewhere (an argument, the environment) says so
        by overriding this, and ``handle_webhook`` should call it."""
        name = type(self).webhook_secret_name
        return None if name is None else await secrets.get(name)

    def webhook_examples(self) -> tuple[str, ...]:
        """The names of the sample deliveries ``example_delivery`` builds (``issues.opened``).
        Optional; the default has none."""
        return ()

    def example_delivery(
        self, name: str, secret: str, *, source_id: str, now: float
    ) -> WebhookExample | None:
        """The sample delivery ``name`` to ``/webhooks/{id}/{source_id}``, made as the vendor
        makes one at ``now`` and signed with ``secret`` as the vendor signs it; None when there
        is no example of that name. ``relaykit webhooks send`` posts it; the dashboard starts a
        webhook job's test-run form from its ``payload``. Optional; the default has none."""
        return None

    def example_source(self, trigger_filter: Mapping[str, Any] | None) -> str:
        """The webhook source a sample for a job whose trigger has this filter is aimed at
        (the dashboard's test-run form), so that the sample matches it. Default: the id."""
        return self.id

    def task_properties(self, output: Any) -> Mapping[str, Any]:
        """Properties to show on a completed task, read from its output (token usage,
        counts); merged over the task's own. Default: none."""
        return {}

    # -- helpers for subclasses --------------------------------------------------------------

    def now(self) -> float:
        """The current time: the run's clock when bound (a test's ``ManualClock``), else the
        system's. Use it for delays computed from a vendor's reset times."""
        if self._binding is not None:
            return self._binding.attempt.services.clock.now()
        return time.time()

    def http_client(
        self,
        *,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> httpx2.AsyncClient:
        """An ``httpx2.AsyncClient`` without transport retries (the engine retries tasks), on
        this instance's ``transport`` when one was given."""
        import httpx2

        transport = self.transport or httpx2.AsyncHTTPTransport(retries=0)
        return httpx2.AsyncClient(
            base_url=base_url, headers=dict(headers or {}), timeout=timeout, transport=transport
        )

    # -- inside a run ------------------------------------------------------------------------

    def bind(self, attempt: Attempt, plugins: Plugins) -> Integration:
        """A copy of this integration bound to a run (what ``io.<name>`` returns)."""
        bound = copy.copy(self)
        bound._binding = _Binding(attempt, plugins)
        return bound

    def _bound(self, what: str) -> _Binding:
        if self._binding is None:
            raise RelaykitError(
                f"{type(self).__name__}.{what} runs as a task of a run: call it on "
                f"io.<name>.{what}(key, ...) or io.use({self.id}).{what}(key, ...) inside a job "
                f"that declares integrations={{...: {self.id}}}"
            )
        return self._binding

    async def run_task(
        self,
        key: str,
        fn: Callable[[Any], Any],
        *,
        name: str | None = None,
        icon: str | None = None,
        retry: Retry | None = None,
        properties: dict[str, Any] | None = None,
    ) -> Any:
        """Raw access: run ``fn(client)`` (sync or async) as a task with the authenticated
        client, for an API call no ``@task`` method covers."""
        binding = self._bound("run_task")

        async def call(client: Any) -> Any:
            value = fn(client)
            return await value if inspect.isawaitable(value) else value

        fn_name = getattr(fn, "__name__", "<lambda>")
        label = name or f"{self.slug}.{'run_task' if fn_name == '<lambda>' else fn_name}"
        spec = _Spec(label, None, icon or self.icon, retry, properties or {}, Any, frozenset())
        return await self._execute(binding, key, call, spec)

    async def _call_task(
        self,
        method: TaskMethod[Any, Any, Any],
        key: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        binding = self._bound(method.attr)
        try:
            bound = method.signature.bind(self, None, *args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{type(self).__name__}.{method.attr}({key!r}, ...): {exc}") from None
        # Only the arguments given are recorded (not defaults): a plugin release that changes
        # a default must not make in-flight runs non-deterministic on replay.
        params = dict(list(bound.arguments.items())[2:])

        async def call(client: Any) -> Any:
            return await method.fn(self, client, *args, **kwargs)

        spec = _Spec(
            method.task_name(self),
            params,
            method.icon or self.icon,
            method.retry,
            {},
            return_hint(method.fn) if method.returns is _FROM_ANNOTATION else method.returns,
            method.redact,
        )
        return await self._execute(binding, key, call, spec)

    async def _execute(
        self, binding: _Binding, key: str, call: Callable[[Any], Awaitable[Any]], spec: _Spec
    ) -> Any:
        """``attempt.task`` whose function resolves credentials, opens the client, calls
        ``call(client)`` through the ``relaykit_wrap_task`` hooks and classifies failures."""
        attempt = binding.attempt
        text = None
        if spec.params is not None:
            shown = {k: REDACTED if k in spec.redact else v for k, v in spec.params.items()}
            text = dumps(shown, what=f"the params of task {key!r}")
        props = {"integration": self.id, **spec.properties}

        async def execute() -> Any:
            credentials = await self.credentials()
            secrets = credentials.secrets()
            try:
                async with attempt.services.clients.use(self, credentials) as client:
                    value = await call(client)
            except Exception as exc:
                # ``from None``: the original may carry the token (headers, URLs) in its text.
                raise _scrubbed(self.classify_error(exc) or exc, secrets) from None
            return _redact_value(value, secrets)

        # the runner sends every task execution (this one too) through the wrap_task hooks
        return await attempt.task(
            key,
            execute,
            kind="integration",
            name=spec.name,
            retry=spec.retry,
            properties=props,
            icon=spec.icon,
            params=text,
            hint=spec.hint,
            output_properties=self.task_properties,
        )

    def uses_stored_connection(self, environ: Mapping[str, str] | None = None) -> bool:
        """Whether this instance's tasks read a stored connection (`relaykit connect ID`),
        which needs ``RELAYKIT_SECRET_KEY``: no ``token=`` and no token in the environment."""
        if self._token or self._token_env:  # an explicit token_env never falls back
            return False
        env = type(self).token_env
        return not (env and (os.environ if environ is None else environ).get(env))

    async def credentials(self) -> Credentials:
        """This integration's credentials now (bound: may read the stored connection).

        Raises ``MissingConnection`` naming the fix when there are none.
        """
        if self._token:
            return Credentials(self._token)
        env = self._token_env or type(self).token_env
        if env and os.environ.get(env):
            return Credentials(os.environ[env])
        if self._token_env:  # asked for explicitly: do not silently use something else
            raise MissingConnection(
                f"integration {self.id!r}: the environment variable {self._token_env} is not "
                f"set; export it, or run `relaykit connect {self.id}` and drop token_env=",
                integration_id=self.id,
            )
        binding = self._binding
        found = None
        if binding is not None:
            services = binding.attempt.services
            connections = Connections(services.store, clock=services.clock.now)
            found = await connections.fresh(
                self.id, self._oauth, environ=os.environ, transport=self.transport
            )
        if found is None:
            hint = f"pass token=, set {env}, " if env else "pass token=, "
            raise MissingConnection(
                f"integration {self.id!r} has no credentials: {hint}or run "
                f"`relaykit connect {self.id}`",
                integration_id=self.id,
            )
        return found


def rate_limit_delay(headers: Mapping[str, str], now: float, default: float = 60.0) -> float:
    """Seconds to wait, from ``Retry-After`` (delay-seconds or an HTTP date, a zoneless one
    read as UTC) or ``X-RateLimit-Reset`` (epoch seconds); ``default`` when neither gives a
    usable delay (``relaykit.http.rate_limit_delay``)."""
    seconds = http.rate_limit_delay(headers, now=now)
    return default if seconds is None else seconds


def _scrubbed(exc: BaseException, secrets: frozenset[str]) -> BaseException:
    """``exc``, or an equivalent error without the secrets when its message held one."""
    message = str(exc)
    if not any(s in message for s in secrets):
        return exc
    for s in secrets:
        message = message.replace(s, REDACTED)
    if isinstance(exc, RetryAfter):
        return RetryAfter(exc.seconds, message)
    if isinstance(exc, NonRetriable) or not getattr(exc, "retriable", True):
        return NonRetriable(f"{type(exc).__name__}: {message}")
    return IntegrationError(f"{type(exc).__name__}: {message}")


def _redact_value(value: Any, secrets: frozenset[str]) -> Any:
    """``value`` with every secret inside it replaced (outputs are stored)."""
    if not secrets:
        return value
    text = dumps(value, what="the task output")
    if not any(s in text for s in secrets):
        return value
    return json.loads(redact_json(text, secrets) or "null")


__all__ = [
    "Integration",
    "TaskMethod",
    "WebhookEvent",
    "WebhookRequest",
    "WebhookResponse",
    "WebhookSecrets",
    "rate_limit_delay",
    "task",
]


IntegrationT = TypeVar("IntegrationT", bound=Integration)


def bind_declared(attempt: Attempt, integration: IntegrationT) -> IntegrationT:
    """``io.use(integration)``: the run-bound copy of an integration the job declares."""
    if not isinstance(integration, Integration):
        raise TypeError(f"io.use() takes an Integration instance, got {integration!r}")
    job = attempt.job
    if not any(v is integration for v in job.integrations.values()):
        raise RelaykitError(
            f"job {job.id!r} does not declare integration {integration.id!r}; add "
            f"integrations={{{integration.id!r}: {integration.id}}} to its define_job"
        )
    bound = integration.bind(attempt, attempt.services.plugins)
    assert isinstance(bound, type(integration))  # noqa: S101 -- bind copies the instance
    return bound


def bind_named(attempt: Attempt, name: str) -> Integration:
    """``io.<name>``: the job's integration ``name`` bound to this run (else AttributeError)."""
    job = attempt.job
    found = None if name.startswith("_") else job.integrations.get(name)
    if not isinstance(found, Integration):
        declared = ", ".join(sorted(job.integrations)) or "none"
        raise AttributeError(
            f"io has no attribute {name!r} (job {job.id!r} declares the integrations: "
            f"{declared}; add integrations={{{name!r}: ...}} to define_job)"
        )
    return bind_declared(attempt, found)
