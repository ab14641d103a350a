"""Patches of BentoML 1.4.40 (private APIs), each measured on this stack (see docs/SERVING.md).

Private BentoML APIs are used here on purpose; ``bentoml`` is pinned exactly and
churn_assets_tests/test_bentoml_patches.py checks the behaviour of each one against the real
classes (the timer is cancelled, the wait is pinned, quiet client errors), so an upgrade that
moves one fails loudly.

1. ``TimeoutMiddleware`` arms ``loop.call_later(timeout)`` per request and never cancels it: each
   request keeps a timer, a future and its tracing context alive for ``traffic.timeout`` seconds;
   under load the old generation fills up and full GCs pause workers for 300-400 ms (the p99 tail).
   We cancel the timer when the request completes (same behaviour otherwise).
2. The adaptive batcher learns how long to hold a request from the mean queueing delay of recent
   batches, which feeds back on itself: after a burst even a lone request waits ~5-10 ms. We pin
   that wait (``ServingSettings.batch_wait_ms``, default 2 ms): a lone request is held ~1 ms, and under load
   batches grow (measured: c=32 HTTP 4,500 req/s vs 3,500-4,100 with no wait). Load shedding
   (``max_latency_ms``) is unchanged.
3. gRPC requests and the lean HTTP routes join the adaptive batcher through ``batch_caller``: what
   the worker's ``ServiceAppFactory.batch_infer`` does, built once; the factory is found from the
   ``on_startup`` hook's call stack.
4. BentoML logs every rejected request at ERROR with a full traceback (``log_exception``), so a
   scanner could flood the log. Client errors (pydantic ``ValidationError``, 4xx BentoML errors)
   are not logged there any more: bento/edge.py logs each once, at INFO, and counts it.
5. Typed response models for the OpenAPI document: ``io_descriptor`` wraps BentoML's private
   ``ensure_io_descriptor`` (the one place it is imported).
6. The lean ``/predict`` and ``/predict_batch`` path (bento/lean.py) answers from the edge: it joins
   the batcher like gRPC (3), answers exceptions as ``api_endpoint_wrapper`` does
   (``endpoint_error``) and stays off when the app has CORS middleware (``cors_enabled``).

Every private API of BentoML is used in this module and nowhere else (a test greps for it), and
``check_version`` stops the service at start-up with a clear error when the installed BentoML is not
the pinned one.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import sys

PINNED_BENTOML = "1.4.40"  # = pyproject.toml's `bentoml==` pin (a test keeps them equal)


def check_version(installed: str | None = None) -> None:
    """Raise at start-up when the installed BentoML is not the one these patches were measured on."""
    if installed is None:
        import bentoml

        installed = bentoml.__version__
    if installed != PINNED_BENTOML:
        raise RuntimeError(
            f"bento/bentoml_patches.py patches private APIs of BentoML {PINNED_BENTOML}, but BentoML {installed} "
            f"is installed: install the locked version (`make install`, or `pip install bentoml=={PINNED_BENTOML}`), "
            "or re-measure the patches against the new one (churn_assets_tests/test_bentoml_patches.py)")


def io_descriptor(tp):
    """A BentoML IO descriptor class for a response type (``_bentoml_sdk.io_models.ensure_io_descriptor``)."""
    from _bentoml_sdk.io_models import ensure_io_descriptor

    return ensure_io_descriptor(tp)


def patch_timeout_middleware() -> None:
    from bentoml._internal.server.http import traffic

    if getattr(traffic.TimeoutMiddleware, "_churn_patched", False):
        return

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        handle = loop.call_later(self.timeout, self._set_timer_out, waiter)

        async def _send(message):
            if not waiter.done():
                waiter.set_result(None)
            await send(message)

        fut = asyncio.ensure_future(self.app(scope, receive, _send), loop=loop)
        try:
            await waiter
        except TimeoutError:
            if fut.cancel():
                from starlette.responses import JSONResponse

                resp = JSONResponse({"error": f"Not able to process the request in {self.timeout} seconds"},
                                    status_code=504)
                await resp(scope, receive, send)
        else:
            await fut
        finally:
            handle.cancel()

    traffic.TimeoutMiddleware.__call__ = __call__
    traffic.TimeoutMiddleware._churn_patched = True


def find_app_factory():
    """The worker's ServiceAppFactory (private); call from an ``@bentoml.on_startup`` hook."""
    from _bentoml_impl.server.app import ServiceAppFactory

    frame = inspect.currentframe()
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, ServiceAppFactory):
            return candidate
        frame = frame.f_back
    raise RuntimeError("BentoML ServiceAppFactory not found in the on_startup hook's call stack: the private "
                       f"API moved (BentoML {PINNED_BENTOML} is the version these patches were measured on)")


def pin_batch_wait(factory, wait_ms: float) -> None:
    """Hold requests exactly ``wait_ms`` for a batch, whatever the optimizer learns (fix 2 above)."""
    wait = wait_ms / 1000.0
    for dispatcher in factory.dispatchers.values():
        opt = dispatcher.optimizer
        original = opt.trigger_refresh

        def refresh(_orig=original, _opt=opt):
            _orig()
            _opt.wait = wait

        opt.trigger_refresh = refresh
        opt.wait = wait


def freeze_heap() -> None:
    """Move everything allocated at start-up out of the GC's reach (fewer, shorter full GCs)."""
    gc.collect()
    gc.freeze()


def is_client_error(exc: BaseException | None) -> bool:
    from bentoml.exceptions import BentoMLException
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return True
    return isinstance(exc, BentoMLException) and int(exc.error_code) < 500


def quiet_client_errors() -> None:
    """Fix 4: BentoML's ``log_exception`` skips client errors (server errors are still logged)."""
    from _bentoml_impl.server import app

    if getattr(app.log_exception, "_churn_patched", False):
        return
    original = app.log_exception

    def log_exception(request, exc_info=True):
        if is_client_error(sys.exc_info()[1]):
            return None
        return original(request, exc_info)

    log_exception._churn_patched = True
    app.log_exception = log_exception


def cors_enabled(factory) -> bool:
    """Whether the worker's app has BentoML's CORS middleware (it sits inside bento/edge.py, so the
    lean routes of bento/lean.py, which answer from the edge, would skip it)."""
    return bool(factory.enable_access_control)


_UNEXPECTED = {"error": "An unexpected error has occurred, please check the server log."}


def endpoint_error(exc: BaseException) -> tuple[int, object]:
    """(status, body) as BentoML's ``ServiceAppFactory.api_endpoint_wrapper`` answers an exception of
    an API route, for bento/lean.py (the edge rewrites the body into the documented ErrorResponse)."""
    from bentoml.exceptions import BentoMLException
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return 400, {"error": f"{exc.error_count()} validation error for {exc.title}",
                     "detail": exc.errors(include_context=False, include_input=False)}
    if isinstance(exc, BentoMLException):
        status = exc.error_code.value
        if status in (401, 403):
            return status, {"error": "Authorization error"}
        if status >= 500:
            return status, _UNEXPECTED
        return status, ({"error": str(exc)},)
    return 500, _UNEXPECTED


def batch_caller(factory, svc, name: str):
    """``await call(records)`` -> this request's slice of the batch output, through the service's adaptive
    batcher for the batchable API ``name``: what ``ServiceAppFactory.batch_infer`` does per request
    (fix 3), with what it rebuilds per request built once here. Measured under load on /predict, the
    per-request rebuild was 8-10% of a worker's CPU: ``APIMethod.__get__`` (a new bound method with
    ``functools.update_wrapper`` and ``inspect.signature``), the dispatcher's wrapper, a metrics
    ``labels()`` lookup and the container registry's type lookups. Same batches, same
    ``bentoml_service_adaptive_batch_size`` observations (the number of requests per batch). Inputs
    are lists of records (batch dimension 0)."""
    from bentoml._internal.context import server_context

    method = factory.service.apis[name]
    if not method.batchable or tuple(method.batch_dim) != (0, 0):
        raise ValueError(f"{name} is not a batchable API over dimension 0")
    func = getattr(svc, name).local  # resolved once: the service instance's async method
    hist = factory.adaptive_batch_size_hist.labels(
        runner_name=factory.service.name, worker_index=server_context.worker_index, method_name=name,
        service_version=server_context.bento_version, service_name=server_context.bento_name,
    ) if factory.enable_metrics else None
    dispatcher = factory.dispatchers[name]
    dispatcher.get_batch_size = len  # a list's batch size (AutoContainer looks the type up per request)

    async def infer(batches):
        if hist is not None:
            hist.observe(len(batches))
        if not batches:
            return []
        batch = [r for b in batches for r in b]
        out = await func(batch)
        slices, i = [], 0
        for b in batches:
            slices.append(out[i:i + len(b)])
            i += len(b)
        return slices

    return dispatcher(infer)
