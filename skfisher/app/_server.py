"""``skfisher label serve``: a local labeling page on a project, on Starlette and uvicorn.

Every request needs the server's random token, in the URL (``?token=``) or
the ``X-Skfisher-Token`` header, as Jupyter does: 401 without it, 403 with a
wrong one. Labels are committed by :meth:`LabelingProject.teach`, the commit
of ``skfisher label teach``; training and the next query run in the
background (:class:`~skfisher.app._jobs.JobRunner`), one job at a time.
"""

import contextlib
import ipaddress
import json
import secrets
import socket
from importlib import resources

from ..labeling import LabelingProject
from ..labeling._agreement import agreement_advice
from ..labeling._folder import ProjectFolder
from ..utils import FolderInUseError
from ._jobs import JobRunner
from ._state import RequestError, check_submission, image_bytes, page_state, project_stamp

__all__ = ["create_app", "serve"]

#: The files of the page, shipped in the package.
STATIC = {"app.js": "text/javascript", "app.css": "text/css"}
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


class TokenGate:
    """ASGI middleware: every HTTP request must carry ``token``."""

    def __init__(self, app, token):
        self.app = app
        self.token = token

    async def __call__(self, scope, receive, send):
        from starlette.requests import Request
        from starlette.responses import JSONResponse

        if scope["type"] == "http":
            request = Request(scope)
            given = request.query_params.get("token") or request.headers.get("x-skfisher-token")
            if given is None or not secrets.compare_digest(given, self.token):
                status, what = (401, "carries no") if given is None else (403, "carries a wrong")
                response = JSONResponse(
                    {
                        "error": f"this request {what} token: open the full URL that "
                        "`skfisher label serve` printed (it ends in ?token=...)."
                    },
                    status_code=status,
                )
                return await response(scope, receive, send)
        return await self.app(scope, receive, send)


def _json(data, status=200):
    from starlette.responses import JSONResponse

    return JSONResponse(data, status_code=status, headers=_HEADERS)


def _refusal(exc):
    """The response to a refused request: 409 for a busy project, 400 for bad input."""
    if isinstance(exc, FolderInUseError):
        return _json({"error": f"the project is busy, nothing was written: {exc}"}, 409)
    message = exc.message if isinstance(exc, RequestError) else str(exc)
    if "nothing was" not in message.lower():
        message += " Nothing was written."
    return _json({"error": message}, getattr(exc, "status", 400))


class _Pages:
    """The endpoints of the page on one project, and its background job."""

    def __init__(self, path, *, token, n, strategy, device, cv):
        self.project = LabelingProject(path)
        self.folder = ProjectFolder(self.project.path)
        self.token = token
        self.job = JobRunner(self.project.path, n=n, strategy=strategy, device=device, cv=cv)

    def pool(self):
        """``(X, paths)`` of the pool, memory-mapped afresh (``label add`` may have grown it)."""
        return self.folder.read_pool()

    def job_view(self):
        snap = self.job.snapshot()
        snap["advice"] = agreement_advice(snap["agreement"])
        snap["stamp"] = project_stamp(self.folder)
        return snap

    def index(self, request):
        from starlette.responses import HTMLResponse

        page = resources.files(__package__).joinpath("static/index.html").read_text()
        return HTMLResponse(page.replace("{{token}}", self.token), headers=_HEADERS)

    def static(self, request):
        from starlette.responses import Response

        name = request.path_params["name"]
        if name not in STATIC:
            return _json({"error": f"no file {name}"}, 404)
        body = resources.files(__package__).joinpath(f"static/{name}").read_bytes()
        return Response(body, media_type=STATIC[name], headers=_HEADERS)

    def state(self, request):
        return _json({**page_state(self.project), "job": self.job_view()})

    def job_status(self, request):
        return _json(self.job_view())

    def image(self, request):
        from starlette.responses import Response

        number, i = request.path_params["round"], request.path_params["i"]
        records = {r["round"]: r for r in self.project.rounds}
        if number not in records or not 0 <= i < len(records[number]["paths"]):
            return _json({"error": f"no image {i} in round {number}"}, 404)
        body, media = image_bytes(self.folder, records[number], i, self.pool)
        return Response(body, media_type=media, headers=_HEADERS)

    async def submit(self, request):
        """Check the labels against the page's round and stamp, teach them,
        then start training and the next query."""
        from starlette.concurrency import run_in_threadpool

        body = await _body(request)
        try:
            summary = await run_in_threadpool(self._teach, body)
        except (RequestError, FolderInUseError, ValueError) as exc:
            return _refusal(exc)
        started = self.job.start(query=True)
        return _json({"taught": summary, "job": started, **page_state(self.project)})

    def _teach(self, body):
        labels = check_submission(page_state(self.project), body)
        return self.project.teach(labels)

    async def add_class(self, request):
        from starlette.concurrency import run_in_threadpool

        body = await _body(request)
        try:
            name = body.get("name") if isinstance(body, dict) else None
            classes = await run_in_threadpool(self.project.add_class, name)
        except (FolderInUseError, ValueError) as exc:
            return _refusal(exc)
        return _json({"classes": classes, **page_state(self.project)})

    def query(self, request):
        return _json({"job": self.job.start(query=True)})

    @contextlib.asynccontextmanager
    async def lifespan(self, app):
        """At start, query when no round waits for labels (else refresh the
        status); at the end, interrupt the job as Ctrl-C does."""
        from starlette.concurrency import run_in_threadpool

        rounds = page_state(self.project)["rounds"]
        self.job.start(query=not rounds or rounds[-1]["n_waiting"] == 0)
        yield
        await run_in_threadpool(self.job.stop)


def create_app(path, *, token, n=20, strategy="fisher_mask", device="auto", cv=3):
    """The ASGI application serving the project at ``path``.

    Parameters
    ----------
    path : path-like
        A labeling project.
    token : str
        Required on every request.
    n, strategy, device
        Images per round, the query strategy and the training device.
    cv : int
        Folds of the learning curve (0: none).
    """
    from starlette.applications import Starlette
    from starlette.routing import Route

    pages = _Pages(path, token=token, n=n, strategy=strategy, device=device, cv=cv)
    routes = [
        Route("/", pages.index),
        Route("/static/{name}", pages.static),
        Route("/api/state", pages.state),
        Route("/api/job", pages.job_status),
        Route("/api/image/{round:int}/{i:int}", pages.image),
        Route("/api/submit", pages.submit, methods=["POST"]),
        Route("/api/classes", pages.add_class, methods=["POST"]),
        Route("/api/query", pages.query, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=pages.lifespan)
    app.state.job = pages.job
    return TokenGate(app, token)


async def _body(request):
    """The request's JSON body, or None when it is not JSON."""
    try:
        return json.loads(await request.body())
    except ValueError:
        return None


def serve(path, *, host="127.0.0.1", port=8765, n=20, strategy="fisher_mask", device="auto", cv=3):
    """Serve the labeling page of the project at ``path`` until Ctrl-C.

    Prints the URL with its token. Ctrl-C interrupts a running job as it
    interrupts ``skfisher label query``: the project stays as the last
    committed step left it.
    """
    import uvicorn

    token = secrets.token_urlsafe(24)
    app = create_app(path, token=token, n=n, strategy=strategy, device=device, cv=cv)
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)  # requests made once the URL shows wait for the server
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port} ({exc.strerror}); try --port 0.") from None
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    print(f"labeling page of {path}:\n  http://{shown}:{bound}/?token={token}", flush=True)
    if not ipaddress.ip_address(sock.getsockname()[0]).is_loopback:
        print(f"  listening on {host}: anyone who can reach it and has the URL can label")
    print("press Ctrl-C to stop", flush=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])
