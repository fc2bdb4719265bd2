"""The FastAPI application: state built once in the lifespan, routes, errors, the rater page."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from agile.errors import AgileError
from server.accounts import DEV_USER, Accounts
from server.db import Database
from server.docs import install_docs
from server.errors import ServerError
from server.evaluation import EvaluationReports
from server.jobs import JobRunner
from server.hosts import TrustedHosts
from server.limits import AllowAllMethods, BodyLimit, ReadTimeout
from server.loop import Loop
from server.repository import Repository
from server.rounds import LoopJobs, adopt_saved_versions
from server.routes import assistant, concepts, deployment, evaluation, jobs, meta, seeds, versions
from server.settings import ServerSettings
from server.state import AppState
from server.status import error_status
from server.validation import install_openapi, validation_error
from server.watch import JobWatch, VersionWatch

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("agile.server")

def build_state(settings: ServerSettings) -> AppState:
    """Open the database and the corpus, and start the job worker."""
    repo = Repository(Database(settings.db_path))
    loop = Loop(settings.corpus, settings.data, settings.allow_random_weights, settings.engine,
                settings.scan_actors)
    adopted = adopt_saved_versions(repo, loop)
    watch = VersionWatch(repo.latest_versions())
    session_settings = settings.session_settings()
    job_watch = JobWatch()
    runner = JobRunner(repo, LoopJobs(repo, loop, session_settings, watch).handlers(), settings.job_start_delay,
                       settings.max_jobs_per_user, settings.max_queued_jobs, job_watch.changed)
    accounts = Accounts(repo.db)
    state = AppState(settings, repo, accounts, loop, watch, runner,
                     EvaluationReports(repo, loop, watch, session_settings),
                     accounts.dev_user() if settings.dev else None,
                     threading.BoundedSemaphore(settings.max_concurrent_images),
                     ThreadPoolExecutor(settings.max_concurrent_images, thread_name_prefix="agile-images"), job_watch)
    interrupted = runner.start()
    notes = [f"{interrupted} interrupted job(s) marked failed"] if interrupted else []
    resumed = runner.resumed
    notes += [f"{resumed} queued job(s) resumed"] if resumed else []
    notes += [f"{adopted} saved version(s) recorded"] if adopted else []
    mode = (f"dev mode: no token needed, every request acts as the local owner {DEV_USER!r}"
            if settings.dev else "tokens required (agile users add NAME --role owner|viewer)")
    print(f"agile serve: corpus {settings.corpus} ({loop.corpus.count:,} images), data in {settings.data}; "
          f"{mode}" + "".join(f"; {n}" for n in notes), flush=True)
    if not loop.has_text:  # said once, here and in the rater (GET /api/info's text_model)
        print(f"agile serve: the corpus's model {loop.corpus.model.name!r} has no text model: concepts start from "
              "image seeds or a coverage batch; phrases and zero-shot are off", flush=True)
    print(f"agile serve: the rater is at http://{settings.host}:{settings.port}/ (API docs at /docs)", flush=True)
    threading.Thread(target=_prepare_scan_store, args=(loop, settings.pin_scan_store),
                     name="scan-store", daemon=True).start()
    return state


def _prepare_scan_store(loop: Loop, pin: bool) -> None:
    """In the background: requests are served meanwhile, and a round that starts first waits on its lock."""
    try:
        note = loop.prepare_scan_store(pin)
    except AgileError as e:
        note = f"int8 scan store unavailable ({e}); rounds will retry it"
    print(f"agile serve: {note}", flush=True)


def _file_names_only(error: Exception) -> str:
    """The error's message with every absolute path cut to its file name: callers never see the disk layout."""
    return re.sub(r"/(?:[^\s:/]+/)+([^\s:/]+)", r"\1", str(error))


def create_app(settings: ServerSettings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        state = await asyncio.to_thread(build_state, settings)
        state.watch.bind(asyncio.get_running_loop())
        state.job_watch.bind(asyncio.get_running_loop())
        app.state.agile = state
        yield
        state.jobs.stop()

    app = FastAPI(title="Agile Modeling", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Concept to classifier: rate batches, train, poll model versions, score.")
    app.add_middleware(ReadTimeout, seconds=settings.request_read_timeout)
    install_docs(app)  # /docs and /redoc with local assets: they must work offline
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes + 64 * 1024)
    app.add_middleware(AllowAllMethods)
    app.add_middleware(TrustedHosts, patterns=settings.served_hosts)
    app.add_exception_handler(RequestValidationError, validation_error)
    install_openapi(app)

    @app.exception_handler(ServerError)
    @app.exception_handler(AgileError)
    async def known_error(request: Request, e: Exception):
        status = error_status(e)
        if status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, e)
            detail = f"a file of the server is damaged or missing (the server log names it): {_file_names_only(e)}"
        else:
            detail = e.message if isinstance(e, ServerError) else str(e)
        return JSONResponse({"detail": detail}, status_code=status, headers=getattr(e, "headers", None))

    for module in (concepts, seeds, jobs, versions, evaluation, deployment, meta, assistant):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def rater():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    return app
