"""The FastAPI app: predictions and targeted look-alike images from one pipeline's SavedModels.

Endpoints (OpenAPI docs at ``/docs``):

- ``GET /healthz``: liveness, never needs the API key.
- ``GET /v1/labels``: the model's labels, input shape and attack methods.
- ``POST /v1/predict``: an image -> top-k labels with probabilities.
- ``POST /v1/attack``: an image + target label (+ method, eps) -> the look-alike as PNG, with the
  predicted label, confidence, L-inf, L2 and SSIM in ``X-*`` headers; ``format=json`` answers
  JSON with the original, perturbation (amplified) and result as PNG data URLs.
- ``GET /``: the web page; ``GET /report/``: the latest report under ``reports_dir``.

Inference runs in worker threads, never on the event loop. Concurrent predictions are gathered
into one batch while the previous batch runs (no added wait). With ``FEATURETEST_API_KEY`` set
(or ``api_key=``), everything except ``/healthz``, the page and its static files needs the key in
``X-API-Key``, ``Authorization: Bearer`` or the ``featuretest_api_key`` cookie (401 otherwise).
"""
from __future__ import annotations

import asyncio
import hmac
import json
import os
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie

import numpy as np
from fastapi import FastAPI, File, Form, HTTPException, Query, UploadFile
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from .._util.io import TMP_MARK
from ..errors import ConfigError, FeatureTestError
from .backend import MINIMAL, ExportBackend
from .images import UploadError, UploadLimits, decode_image, decoded_values, open_upload, perturbation_image, png_data_url, to_png
from .review import register_review_routes
from .safety import header_text, public_results, report_file_path

STATIC = os.path.join(os.path.dirname(__file__), "static")
_PUBLIC = ("/healthz", "/", "/favicon.ico")
_UNSET = object()
#: Decodes up to this many values (width x height x channels) run on the event loop; bigger ones in threads.
SMALL_DECODE = 256 * 1024


class _Guard:
    """ASGI middleware: API-key check and the body limit, enforced while the body streams in.

    A declared ``Content-Length`` over the limit is refused at once; a body without one (chunked)
    is counted as it arrives and refused with 413 as soon as it passes the limit, so the service
    never holds (in memory or spooled to disk) more than the limit of any request.
    """

    def __init__(self, app, api_key, max_body):
        self.app, self.api_key, self.max_body = app, api_key, max_body

    def _key(self, scope):
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if "x-api-key" in headers:
            return headers["x-api-key"]
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        cookie = SimpleCookie(headers.get("cookie", ""))
        return cookie["featuretest_api_key"].value if "featuretest_api_key" in cookie else None

    def _too_big(self, size):
        return JSONResponse({"detail": f"request body of {size} bytes is over the limit of {self.max_body} bytes"},
                            status_code=413, headers={"Connection": "close"})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        public = path in _PUBLIC or path.startswith("/static/")
        if self.api_key and not public:
            given = self._key(scope)
            if given is None or not hmac.compare_digest(given.encode(), self.api_key.encode()):
                await JSONResponse({"detail": "missing or wrong API key (send X-API-Key)"}, status_code=401,
                                   headers={"WWW-Authenticate": "Bearer"})(scope, receive, send)
                return
        for k, v in scope.get("headers", []):
            if k == b"content-length" and v.isdigit() and int(v) > self.max_body:
                await self._too_big(int(v))(scope, receive, send)
                return
        state = {"seen": 0, "refused": False, "started": False}

        async def counted_receive():
            if state["refused"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                state["seen"] += len(message.get("body", b""))
                if state["seen"] > self.max_body:  # stop reading: the rest of the body is never taken in
                    state["refused"] = True
                    if not state["started"]:
                        state["started"] = True
                        await self._too_big(f"more than {self.max_body}")(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if state["refused"]:
                return  # the 413 has been sent; the app's answer to the cut-off body is dropped
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not state["refused"]:
                raise


class _Batcher:
    """Gathers concurrent predictions into one model call; one call runs at a time."""

    def __init__(self, backend, executor, max_batch):
        self.backend, self.executor, self.max_batch = backend, executor, max_batch
        self._queue = self._loop = None

    async def predict(self, x, k):
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._queue = loop, asyncio.Queue()
            self._task = loop.create_task(self._work(self._queue))
        fut = loop.create_future()
        self._queue.put_nowait((x, k, fut))
        return await fut

    async def _work(self, queue):
        loop = asyncio.get_running_loop()
        while True:
            items = [await queue.get()]
            while len(items) < self.max_batch and not queue.empty():
                items.append(queue.get_nowait())
            batch = np.stack([x for x, _, _ in items])
            try:
                preds = await loop.run_in_executor(self.executor, self.backend.predict, batch, 1 << 30)
            except Exception as exc:  # the error goes to every waiting request
                for _, _, fut in items:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, k, fut), p in zip(items, preds):
                if not fut.done():
                    fut.set_result(type(p)(p.names[:k], p.indices[:k], p.probabilities[:k]))


def latest_report(reports_dir):
    """The folder of the newest ``index.html`` in ``reports_dir`` or its sub-folders (two levels), or None."""
    if not reports_dir or not os.path.isdir(reports_dir):
        return None
    found = []
    for depth_root, dirs, files in os.walk(reports_dir):
        dirs[:] = [d for d in dirs if not d.startswith(".") and TMP_MARK not in d]  # staging folders of runs
        if depth_root[len(str(reports_dir)):].count(os.sep) >= 2:
            dirs[:] = []
        if "index.html" in files:
            found.append((os.path.getmtime(os.path.join(depth_root, "index.html")), depth_root))
    return max(found)[1] if found else None


def create_app(models_dir=None, *, reports_dir=None, api_key=_UNSET, limits: UploadLimits | None = None,
               workers=2, attack_workers=1, max_batch=64, backend=None) -> FastAPI:
    """Build the service for one pipeline's exports.

    Args:
        models_dir: the pipeline folder of the exports, e.g. ``saved_models/digits``.
        reports_dir: folder whose newest report ``/report/`` shows (optional).
        api_key: required key; default ``$FEATURETEST_API_KEY`` (no key when unset or empty).
        limits: :class:`UploadLimits` (size, dimensions, decoded values, concurrent decodes, formats).
        workers: threads running predictions.
        attack_workers: threads running attacks, apart from the predictions' threads so that a
            queue of attacks never delays a prediction; attacks beyond these wait their turn.
        max_batch: most predictions gathered into one model call.
        backend: an already loaded :class:`ExportBackend` (shares one between apps).

    Returns:
        The FastAPI app (run it with uvicorn, or ``featuretest serve``).

    Example:
        >>> app = create_app("saved_models/digits")  # doctest: +SKIP
        >>> uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
    """
    backend = backend or ExportBackend(models_dir)
    limits = limits or UploadLimits()
    if api_key is _UNSET:
        api_key = os.environ.get("FEATURETEST_API_KEY") or None
    executor = ThreadPoolExecutor(max_workers=int(workers), thread_name_prefix="featuretest-predict")
    attack_executor = ThreadPoolExecutor(max_workers=int(attack_workers), thread_name_prefix="featuretest-attack")
    batcher = _Batcher(backend, executor, int(max_batch))
    decode_slots = asyncio.Semaphore(limits.max_decodes)
    app = FastAPI(title="tf-featuretest", version="1",
                  description="Predictions and targeted look-alike images from exported classifiers.")
    app.state.backend = backend
    app.add_middleware(_Guard, api_key=api_key, max_body=limits.max_bytes + 64 * 1024)

    @app.exception_handler(FeatureTestError)
    async def _errors(request, exc):
        status = exc.status if isinstance(exc, UploadError) else 422 if isinstance(exc, ConfigError) else 400
        return JSONResponse({"detail": str(exc)}, status_code=status)

    async def _image(file: UploadFile):
        data = await file.read(limits.max_bytes + 1)
        img = open_upload(data, limits)  # header only: the limits are checked before any pixel is decoded
        if decoded_values(img) <= SMALL_DECODE:
            return decode_image(img, backend.image_shape)
        async with decode_slots:  # a bounded number of big decodes at once, off the event loop
            return await run_in_threadpool(decode_image, img, backend.image_shape)

    @app.get("/healthz", tags=["service"])
    async def healthz():
        """Liveness: always 200 once the models are loaded."""
        return {"status": "ok", "pipeline": backend.pipeline, "num_labels": len(backend.labels)}

    @app.get("/v1/labels", tags=["model"])
    async def labels():
        """The model's labels (index order), its input shape and the attack methods on offer."""
        return {"labels": list(backend.labels), "image_shape": list(backend.image_shape),
                "methods": list(backend.methods), "default_method": backend.default_method,
                "minimal_methods": [m for m in backend.methods if m in MINIMAL],
                "judge": list(backend.judge_members), "samples": int(len(backend.samples[1])),
                "pipeline": backend.pipeline}

    @app.get("/v1/samples", tags=["model"])
    async def samples():
        """Test images exported with the model (two per class), as PNG data URLs, to try the look-alikes on."""
        images, labels_ = backend.samples
        return {"samples": [{"label": backend.labels[int(lab)], "index": int(lab), "png": png_data_url(img)}
                            for img, lab in zip(images, labels_)]}

    @app.post("/v1/predict", tags=["model"])
    async def predict(file: UploadFile = File(..., description="PNG, JPEG, BMP, GIF or WEBP image"),
                      k: int = Query(5, ge=1, le=100, description="how many top labels")):
        """Top-k labels of an image, with probabilities."""
        x = await _image(file)
        return (await batcher.predict(x, k)).to_dict()

    @app.post("/v1/attack", tags=["model"], response_class=Response,
              responses={200: {"content": {"image/png": {}, "application/json": {}},
                               "description": "the look-alike PNG (X-* headers) or JSON"}})
    async def attack(file: UploadFile = File(..., description="the image to change"),
                     target: str = Form(..., description="label the result should get (name or index)"),
                     method: str | None = Form(None, description="perceptual (the default), cw, ddn, feature_space, "
                                                                 "pgd or fgsm: those the export has"),
                     eps: float | None = Form(None, description="L-inf budget in (0, 1] (default 0.2); for "
                                                                "perceptual, cw and ddn a cap on the change "
                                                                "(default 1: none)"),
                     format: str = Query("png", pattern="^(png|json)$", description="png or json")):
        """A look-alike image that the model calls ``target``."""
        backend.label_index(target)
        x = await _image(file)
        loop = asyncio.get_running_loop()
        out = await loop.run_in_executor(attack_executor, lambda: backend.attack(x, target, method=method, eps=eps))
        if format == "json":
            return JSONResponse({**out.to_dict(), "original_png": png_data_url(out.original),
                                 "adversarial_png": png_data_url(out.adversarial),
                                 "perturbation_png": png_data_url(perturbation_image(out.original, out.adversarial))})
        headers = {"X-Predicted-Label": header_text(out.after.names[0]),
                   "X-Confidence": f"{out.after.probabilities[0]:.6f}",
                   "X-Linf": f"{out.linf:.6f}", "X-L2": f"{out.l2:.6f}", "X-SSIM": f"{out.ssim:.6f}",
                   "X-Target": header_text(out.target), "X-Success": str(out.success).lower(),
                   "X-Original-Label": header_text(out.before.names[0]), "X-Label-Encoding": "percent-encoded UTF-8"}
        if out.judge is not None:
            headers["X-Judge"] = out.judge["verdict"]
        return Response(to_png(out.adversarial), media_type="image/png", headers=headers)

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(os.path.join(STATIC, "index.html"))

    @app.get("/v1/report", tags=["report"])
    async def report_info():
        """The latest report's name and its ``results.json``, without server paths or tracebacks (404: none)."""
        folder = latest_report(reports_dir)
        if folder is None:
            raise HTTPException(404, "no report found")
        path = os.path.join(folder, "results.json")
        try:
            with open(path, encoding="utf-8") as fh:
                results = public_results(json.load(fh))
        except (OSError, ValueError):
            results = None
        return {"url": "/report/", "report": os.path.basename(folder), "results": results}

    @app.get("/report", include_in_schema=False)
    async def report_redirect():
        return RedirectResponse("/report/")

    @app.get("/report/{path:path}", include_in_schema=False)
    async def report_file(path: str):
        folder = latest_report(reports_dir)
        if folder is None:
            raise HTTPException(404, "no report found")
        full = report_file_path(folder, path)
        if full is None:
            raise HTTPException(404, "no such file in the latest report")
        return FileResponse(full)

    register_review_routes(app, lambda: latest_report(reports_dir))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.router.on_shutdown.append(lambda: executor.shutdown(wait=False))
    app.router.on_shutdown.append(lambda: attack_executor.shutdown(wait=False))
    return app
