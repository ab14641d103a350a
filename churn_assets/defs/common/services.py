"""Steps that talk to a service (MLflow tracking/registry, Postgres, the BentoML store) when it goes away.

Two parts, used together on each such step:

* ``service_retry``: a Dagster ``RetryPolicy`` with exponential backoff (settings ``CHURN_SERVICE_RETRIES``,
  ``CHURN_SERVICE_RETRY_DELAY_S``; ``Build.retry`` makes it once for the code location). With the defaults (5 retries, 2 s)
  the waits are about 2, 6, 14, 30 and 62 s: an outage of up to ~2 min is survived (a server that
  restarts on a loaded machine took ~75 s to answer again in the tests).
* ``@explains_outages``: a connection failure becomes ONE line naming the service and its URI
  (``dg.Failure``, retried by the policy), instead of pages of urllib3/SQLAlchemy traceback. Any other
  exception is not an outage and retrying cannot heal it: it becomes a ``dg.Failure`` with
  ``allow_retries=False`` (its traceback kept as the cause), so a bug fails at once, not after a minute.
"""

from __future__ import annotations

import functools
import inspect
import re

import dagster as dg


def service_retry(retries: int, delay_s: float) -> dg.RetryPolicy:
    return dg.RetryPolicy(max_retries=retries, delay=delay_s, backoff=dg.Backoff.EXPONENTIAL,
                          jitter=dg.Jitter.PLUS_MINUS)

_NETWORK = ("ConnectionError", "ConnectionRefusedError", "ConnectionResetError", "TimeoutError", "timeout",
            "MaxRetryError", "NewConnectionError", "ProtocolError", "RemoteDisconnected", "ReadTimeout",
            "ConnectTimeout", "ReadTimeoutError")
_DATABASE = ("OperationalError", "InterfaceError", "DisconnectionError", "AdminShutdown", "ConnectionFailure",
             "ConnectionTimeout")
_MLFLOW_DOWN = re.compile(r"API request to .* failed with (exception|error code 5\d\d)|Max retries exceeded")


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for e in _chain(exc) for cls in type(e).__mro__}


def safe_url(url: str) -> str:
    """``url`` with its password hidden (any URL: an http:// tracking server is shown as it is)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001  (not a SQLAlchemy URL: an http:// tracking server)
        return url


def _services(values) -> dict[str, str]:
    """URI of each service the step's resources point at: {label: uri}."""
    out = {}
    for value in values:
        for label, attr in (("MLflow tracking", "tracking_uri"), ("Optuna storage", "url"),
                            ("predictions database", "predictions_url"), ("prediction log", "prediction_log_url")):
            uri = getattr(value, attr, None)
            if isinstance(uri, str) and uri:
                out[label] = uri
    return out


def outage_message(exc: BaseException, services: dict[str, str]) -> str | None:
    """One line naming the unreachable service and its URI, or None if ``exc`` is not an outage."""
    names = _names(exc)
    text = " ".join(str(e) for e in _chain(exc))
    mlflow_down = "MlflowException" in names and bool(_MLFLOW_DOWN.search(text))
    network = bool(names & set(_NETWORK))
    database = bool(names & set(_DATABASE))
    if not (mlflow_down or network or database):
        return None
    if mlflow_down or (network and not database):
        candidates = {k: v for k, v in services.items() if k == "MLflow tracking"} or services
    else:
        dbs = {k: v for k, v in services.items() if not v.startswith(("http://", "https://"))}
        # Several databases: the one whose host:port the driver names, else all of them.
        named = {k: v for k, v in dbs.items() if _hostport(v) and _hostport(v) in text}
        candidates = named or dbs or services
    root = list(_chain(exc))[-1]
    reason = f"{type(root).__name__}: {str(root).strip().splitlines()[0] if str(root).strip() else ''}"[:240]
    where = "; ".join(f"{k} {safe_url(v)}" for k, v in candidates.items()) or "a service"
    return f"unreachable: {where} ({reason})"


def _hostport(url: str) -> str:
    m = re.search(r"@?([\w.\-]+):(\d+)", url.split("://", 1)[-1])
    return f"port {m.group(2)}" if m else ""


def explains_outages(fn):
    """Wrap a step function: a connection failure is re-raised as one ``dg.Failure`` naming the URI
    (``from None``: the driver's traceback is not the step error). Keeps the signature for Dagster."""

    def convert(exc: Exception, args: tuple, kwargs: dict) -> Exception:
        msg = outage_message(exc, _services([*args, *kwargs.values()]))
        return exc if msg is None else dg.Failure(description=msg, allow_retries=True)

    def not_retried(exc: Exception) -> dg.Failure:
        return dg.Failure(description=f"{type(exc).__name__}: {str(exc)[:1000]}", allow_retries=False)

    def _raise_explained(exc: Exception, args, kwargs):
        new = convert(exc, args, kwargs)
        if new is exc:
            raise not_retried(exc) from exc
        raise new from None

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except dg.Failure:
                raise
            except Exception as exc:  # noqa: BLE001  (always re-raised, explained)
                _raise_explained(exc, args, kwargs)
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except dg.Failure:
            raise
        except Exception as exc:  # noqa: BLE001  (always re-raised, explained)
            _raise_explained(exc, args, kwargs)
    return wrapper
