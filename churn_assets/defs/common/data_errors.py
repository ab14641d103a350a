"""Bad data or a bad spec fails the step with one clear message (a dg.Failure), not a traceback."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from churn_assets.core.data.errors import DataError


@contextmanager
def data_failures(source: str | None = None) -> Iterator[None]:
    """Turn ``DataError`` (and a bad spec or a missing file) into a ``dg.Failure`` with its message.

    ``source`` (the file or table) prefixes a message that does not name it yet: validation
    only knows the data set's name.
    """
    try:
        yield
    except (DataError, FileNotFoundError, ValueError) as err:  # ValueError: spec validation, absent columns
        text = str(err)
        if source and source not in text:
            text = f"{source}: {text}"
        meta = {k: v for k, v in {"source": source, "column": getattr(err, "column", None),
                                  "rule": getattr(err, "rule", None)}.items() if v}
        raise dg.Failure(description=text, metadata=meta, allow_retries=False) from None  # bad data stays bad
