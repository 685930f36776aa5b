"""relaykit inside a Django project served over ASGI: async views enqueue runs, the worker that
``client.lifespan`` starts in the same process executes them.

Django's ASGI handler does not speak the ASGI *lifespan* protocol (it refuses lifespan events),
so nothing in Django can start the worker when the server starts. Wrap the Django application
in a Starlette app that has relaykit's lifespan (Starlette is one of relaykit's dependencies);
requests go to Django as before. In a project that is ``asgi.py``::

    # mysite/asgi.py
    import os

    from django.core.asgi import get_asgi_application

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    django_app = get_asgi_application()  # first: it sets Django up

    from starlette.applications import Starlette
    from starlette.routing import Mount

    from signups.jobs import client  # your relaykit Client

    application = Starlette(
        routes=[Mount("/relaykit", app=client.asgi_app()), Mount("/", app=django_app)],
        lifespan=client.lifespan,
    )

and ``uvicorn mysite.asgi:application``. Views that enqueue must be ``async def`` (they run on
the server's event loop, where the store was opened). This file is the same thing as a
one-file Django project; run it with (from this folder):
    uvicorn django_app:app
"""

from __future__ import annotations

import json
import os
from typing import Any

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    # A real project reads its secret from the environment and refuses to start without it.
    SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", "relaykit-example-only"),
    INSTALLED_APPS=[],
    MIDDLEWARE=[],
)
django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402 -- after settings.configure()
from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from signups import client  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.routing import Mount  # noqa: E402

from relaykit import UnknownRun  # noqa: E402


async def sign_up(request: HttpRequest) -> JsonResponse:
    """POST: enqueue the welcome email and answer at once."""
    if request.method != "POST":
        return JsonResponse({"detail": "POST an email"}, status=405)
    form: dict[str, Any] = json.loads(request.body)
    run_id = await client.enqueue("welcome-email", {"email": str(form["email"])})
    return JsonResponse({"run": run_id}, status=202)


async def sign_up_status(request: HttpRequest, run_id: str) -> JsonResponse:
    """Where the welcome email is."""
    try:
        run = await client.get_run(run_id)
    except UnknownRun as exc:
        return JsonResponse({"detail": str(exc)}, status=404)
    return JsonResponse({"status": run.status, "output": run.output})


urlpatterns = [
    path("signups", sign_up),
    path("signups/<str:run_id>", sign_up_status),
]

app = Starlette(
    routes=[
        Mount("/relaykit", app=client.asgi_app()),  # the dashboard and the HTTP API
        Mount("/", app=get_asgi_application()),
    ],
    lifespan=client.lifespan,
)
