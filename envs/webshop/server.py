"""The shop as a web site: HTML pages with forms, served by uvicorn (ASGI, Starlette).

Every browser session owns a `WebShopEnv` built with the same arguments as
the text environment, and every form submission becomes the same action
string (`search[...]` or `click[...]`) the text environment takes; the page
is rendered from the same `PageView`. The site and the text environment
therefore agree page for page. Jinja2 autoescaping escapes every catalog
string. Every response carries `SECURITY_HEADERS` (a Content-Security-Policy
that allows only the site's own stylesheet and form targets, no framing, no
MIME sniffing); the stylesheet is served at `/style.css`, so the pages need
no inline style or script.

    serve(host="127.0.0.1", port=3000, num_products=5000)   # blocks
    with running_server(port=0) as url: ...                  # background thread, for tests
"""
from __future__ import annotations

import contextlib
import secrets
import socket
import threading
import time
import urllib.parse
from collections import OrderedDict
from pathlib import Path
from typing import Any
from collections.abc import Iterator

import jinja2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.datastructures import MutableHeaders
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from earlyexp.envs.webshop.env import WebShopEnv
from earlyexp.envs.webshop.shop import MAX_QUERY_CHARS
from earlyexp.errors import ResetNeeded, UnknownTaskError

MAX_SESSIONS = 1000
MAX_FORM_BYTES = 8192
_TEMPLATE_DIR = Path(__file__).with_name("templates")
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_TEMPLATE_DIR),
    autoescape=True, undefined=jinja2.StrictUndefined,
)
_STYLESHEET = (_TEMPLATE_DIR / "style.css").read_text(encoding="utf-8")
#: Sent with every response: only our own stylesheet and form targets, never inside a frame.
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; style-src 'self'; form-action 'self'; "
                                "base-uri 'none'; frame-ancestors 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class SecurityHeaders:
    """ASGI wrapper that adds `SECURITY_HEADERS` to every HTTP response of the app it wraps,
    error pages included (it sits outside Starlette's own error handling)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _Browser:
    """One visitor's episode: its environment and the last invalid-action message."""

    def __init__(self, env: WebShopEnv, task_id: str):
        self.env, self.message = env, ""
        env.reset(seed=0, options={"task_id": task_id})


def build_app(**env_kwargs: Any) -> ASGIApp:
    """The ASGI app serving the shop built from `env_kwargs` (those of `WebShopEnv`)."""
    template_env = WebShopEnv(**env_kwargs)  # loads the shared shop once, up front
    browsers: OrderedDict[str, _Browser] = OrderedDict()

    # Handlers are coroutines so that every session is touched from the event loop thread only.
    async def start(request: Request) -> Response:
        task_id = request.query_params.get("task") or template_env.tasks("train")[0]
        try:
            browser = _Browser(WebShopEnv(**env_kwargs), task_id)
        except UnknownTaskError as error:
            return HTMLResponse(_TEMPLATES.from_string("<p>{{ e }}</p>").render(e=str(error)), 404)
        sid = secrets.token_urlsafe(12)
        browsers[sid] = browser
        while len(browsers) > MAX_SESSIONS:  # forget the oldest visitors first
            browsers.popitem(last=False)
        return RedirectResponse(f"/session/{sid}", status_code=303)

    async def page(request: Request) -> Response:
        sid = request.path_params["sid"]
        browser = browsers.get(sid)
        if browser is None:
            return HTMLResponse("<p>Unknown or expired session. <a href='/'>Start again</a>.</p>",
                                404)
        return HTMLResponse(_render(browser, sid))

    async def submit(request: Request) -> Response:
        sid = request.path_params["sid"]
        browser = browsers.get(sid)
        if browser is None:
            return RedirectResponse("/", status_code=303)
        action = _form_action(await request.body())
        try:
            obs, *_, info = browser.env.step(action)
        except ResetNeeded:
            browser.message = "This episode has ended; start the next task."
        else:
            # The environment's own explanation: the first paragraph of its observation.
            browser.message = "" if info["valid_action"] else obs.split("\n\n", 1)[0][:300]
        return RedirectResponse(f"/session/{sid}", status_code=303)

    async def stylesheet(request: Request) -> Response:
        return Response(_STYLESHEET, media_type="text/css")

    routes = [Route("/", start), Route("/style.css", stylesheet), Route("/session/{sid}", page),
              Route("/session/{sid}", submit, methods=["POST"])]
    return SecurityHeaders(Starlette(routes=routes))


def _form_action(body: bytes) -> str:
    """The action string a submitted form stands for: a search or a button click.

    The pages' forms post `application/x-www-form-urlencoded`, which the
    standard library parses; Starlette's own form parser would need the
    extra `python-multipart` package.
    """
    fields = urllib.parse.parse_qs(body[:MAX_FORM_BYTES].decode("utf-8", "replace"))
    form = {name: values[0] for name, values in fields.items()}
    if form.get("button"):
        return f"click[{str(form['button'])[:MAX_QUERY_CHARS]}]"  # longer labels name no button
    # Not clipped: the environment refuses a query over MAX_QUERY_CHARS and says why.
    return f"search[{form.get('query', '')}]"


def _render(browser: _Browser, sid: str) -> str:
    env = browser.env
    split_ids = env.tasks(env.task_id.split("-")[0])
    following = split_ids[(split_ids.index(env.task_id) + 1) % len(split_ids)]
    return _TEMPLATES.get_template("page.html").render(
        view=env.page_view(), message=browser.message, action_url=f"/session/{sid}",
        next_url=f"/?task={following}",
    )


def serve(host: str = "127.0.0.1", port: int = 3000, **env_kwargs: Any) -> None:
    """Serve the shop until interrupted (`earlyexp serve webshop` calls this)."""
    uvicorn.run(build_app(**env_kwargs), host=host, port=port, log_level="info")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_server(host: str = "127.0.0.1", port: int = 0, **env_kwargs: Any) -> Iterator[str]:
    """Serve in a background thread; yields the base URL and stops the server on exit."""
    port = port or free_port(host)
    server = uvicorn.Server(uvicorn.Config(build_app(**env_kwargs), host=host, port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="webshop-server", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"The webshop server did not start on {host}:{port}.")
            time.sleep(0.02)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
