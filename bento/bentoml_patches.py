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
3. gRPC requests join the HTTP batcher through the worker's ``ServiceAppFactory.batch_infer``;
   the factory is found from the ``on_startup`` hook's call stack.
4. BentoML logs every rejected request at ERROR with a full traceback (``log_exception``), so a
   scanner could flood the log. Client errors (pydantic ``ValidationError``, 4xx BentoML errors)
   are not logged there any more: bento/edge.py logs each once, at INFO, and counts it.
5. Typed response models for the OpenAPI document: ``io_descriptor`` wraps BentoML's private
   ``ensure_io_descriptor`` (the one place it is imported).

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
