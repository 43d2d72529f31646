"""RetryPolicy backoff shape and Retry-After parsing."""

from __future__ import annotations

import pytest

from mailwarden.graph import RetryPolicy
from mailwarden.graph._retry import parse_retry_after


def test_backoff_is_full_jitter_under_an_exponential_ceiling() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=30, random=lambda: 0.5)
    assert [policy.backoff(n) for n in (1, 2, 3, 10)] == [0.25, 0.5, 1.0, 15.0]


def test_backoff_jitter_can_be_zero() -> None:
    assert RetryPolicy(random=lambda: 0.0).backoff(5) == 0.0


@pytest.mark.parametrize(("value", "expected"), [("5", 5.0), ("0", 0.0), ("1.5", 1.5), ("-3", 0.0)])
def test_retry_after_seconds(value, expected) -> None:
    assert parse_retry_after({"retry-after": value}) == expected


def test_retry_after_http_date_is_relative_to_now() -> None:
    value = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert parse_retry_after({"retry-after": value}, now=lambda: 1445412470.0) == 10.0


@pytest.mark.parametrize("headers", [{}, {"retry-after": "soon"}])
def test_retry_after_absent_or_garbage_is_none(headers) -> None:
    assert parse_retry_after(headers) is None


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
