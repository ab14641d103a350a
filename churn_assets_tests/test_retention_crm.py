"""The CRM webhook against a real HTTP receiver on 127.0.0.1: bounded batches, retries of a 503,
an idempotency key per batch, no duplicates when the day is sent again, no retry of a 4xx."""


import pandas as pd
import pytest

from churn_assets.core.retention import campaign, store
from churn_assets.core.retention.crm import CrmError, batch_key
from churn_assets_tests.receiver import http_receiver

pytestmark = pytest.mark.integration

DAY = "2025-07-01"


@pytest.fixture
def webhook():
    with http_receiver("/crm") as receiver:
        yield receiver


def _requests(receiver) -> list[tuple[str, dict]]:
    """(idempotency key, payload) of each accepted batch."""
    return [(headers["Idempotency-Key"], body) for headers, body in receiver.posts]


def _list(n=1_050):
    return pd.DataFrame({"rank": range(1, n + 1), "customer_id": [f"C{i:05d}" for i in range(n)],
                         "churn_probability": 0.5, "value_at_stake": 100.0, "expected_net_value": 10.0,
                         "cell": "high risk / high value", "group": ["control" if i % 5 == 0 else "treatment"
                                                                    for i in range(n)]})


def test_batches_retries_and_no_duplicates_on_a_rerun(webhook, tmp_path):
    url = f"sqlite:///{tmp_path}/p.db"
    rows = _list()
    treated = rows[rows["group"] == "treatment"]
    webhook.fail_next = [503]  # the first request fails once: retried
    res = campaign.deliver(url, webhook.url, DAY, "spring", rows, batch_size=300, retries=2, backoff_s=0.01)
    assert res.customers_sent == len(treated) == 840 and res.batches_sent == 3 and res.retries == 1
    got = [c["customer_id"] for _, body in _requests(webhook) for c in body["customers"]]
    assert sorted(got) == sorted(treated["customer_id"]) and len(got) == len(set(got))  # treated only, once
    assert max(len(b["customers"]) for _, b in _requests(webhook)) == 300  # bounded
    keys = [k for k, _ in _requests(webhook)]
    assert len(set(keys)) == 3 and all(k.startswith(f"spring:{DAY}:") for k in keys)
    assert keys[0] == batch_key("spring", DAY, [c["customer_id"] for c in _requests(webhook)[0][1]["customers"]])
    # the same day again: nothing is sent
    again = campaign.deliver(url, webhook.url, DAY, "spring", rows, batch_size=300, retries=2, backoff_s=0.01)
    assert again.customers_sent == 0 and again.already_delivered == 840 and len(_requests(webhook)) == 3
    assert store.delivered(url, DAY, "spring") == set(treated["customer_id"])


def test_an_interrupted_send_resumes_and_a_4xx_is_not_retried(webhook, tmp_path):
    url = f"sqlite:///{tmp_path}/p.db"
    rows = _list(600)
    webhook.fail_next = [200, 503, 503]  # batch 0 accepted, batch 1 fails twice: retries exhausted
    with pytest.raises(CrmError, match=r"failed batch 1 of spring 2025-07-01 after 2 attempts \(HTTP 503\); 200 "):
        campaign.deliver(url, webhook.url, DAY, "spring", rows, batch_size=200, retries=1, backoff_s=0.01)
    assert len(store.delivered(url, DAY, "spring")) == 200
    res = campaign.deliver(url, webhook.url, DAY, "spring", rows, batch_size=200, retries=1, backoff_s=0.01)
    assert res.already_delivered == 200 and res.customers_sent == 280
    got = [c["customer_id"] for _, body in _requests(webhook) for c in body["customers"]]
    assert len(got) == len(set(got)) == 480
    webhook.fail_next = [400]
    with pytest.raises(CrmError, match="refused batch 0.*not retried"):
        campaign.deliver(url, webhook.url, "2025-07-02", "spring", rows, batch_size=200, retries=3, backoff_s=0.01)
    assert webhook.fail_next == []  # one request only


def test_a_closed_port_fails_clearly(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(CrmError, match="after 2 attempts"):
        campaign.deliver(f"sqlite:///{tmp_path}/p.db", f"http://127.0.0.1:{port}/crm", DAY, "spring", _list(10),
                         batch_size=5, retries=1, backoff_s=0.01)
