"""Property test: hostile messages never make classify raise, and every verdict explains itself."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailwarden.detection import Category, classify

junk = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.text(max_size=200),
    st.binary(max_size=50),
    st.lists(st.text(max_size=20), max_size=3),
    st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=3),
)
hostile_text = st.one_of(
    st.text(max_size=2000),
    st.text(alphabet="<>\"'=/\\x00&#;: \u202e\u200b\u0430\u043ehttps.xn--", max_size=3000),
    st.integers(min_value=1, max_value=3000).map(lambda n: "<div>" * n + "<a href=x>" * (n // 2)),
    st.integers(min_value=1, max_value=2000).map(lambda n: "<!--<script" * n),
    st.integers(min_value=1, max_value=100_000).map(lambda n: "A" * n),
)
address = st.one_of(
    junk,
    st.fixed_dictionaries(
        {
            "emailAddress": st.fixed_dictionaries(
                {
                    "name": st.one_of(st.none(), hostile_text),
                    "address": st.one_of(st.none(), hostile_text, st.just("a@xn--zz-\u0000.com")),
                }
            )
        }
    ),
)
header = st.one_of(
    junk,
    st.fixed_dictionaries(
        {
            "name": st.one_of(
                st.sampled_from(["Authentication-Results", "Received-SPF", "List-Unsubscribe", "Precedence"]),
                junk,
            ),
            "value": st.one_of(hostile_text, junk),
        }
    ),
)
attachment = st.one_of(
    junk,
    st.fixed_dictionaries(
        {
            "name": st.one_of(hostile_text, junk),
            "contentType": st.one_of(st.text(max_size=30), junk),
            "size": st.one_of(st.integers(), junk),
            "contentBytes": st.one_of(st.text(max_size=50), junk),
        }
    ),
)
message = st.fixed_dictionaries(
    {},
    optional={
        "subject": st.one_of(hostile_text, junk),
        "from": address,
        "sender": address,
        "replyTo": st.one_of(st.lists(address, max_size=3), junk),
        "toRecipients": st.one_of(st.lists(address, max_size=3), junk),
        "body": st.one_of(
            junk,
            st.fixed_dictionaries(
                {
                    "contentType": st.one_of(st.sampled_from(["html", "text"]), junk),
                    "content": st.one_of(hostile_text, junk),
                }
            ),
        ),
        "bodyPreview": st.one_of(hostile_text, junk),
        "internetMessageHeaders": st.one_of(st.lists(header, max_size=6), junk),
        "attachments": st.one_of(st.lists(attachment, max_size=3), junk),
        "hasAttachments": junk,
    },
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(message)
def test_classify_never_raises_and_always_gives_reasons(m):
    v = classify(m)
    assert isinstance(v.category, Category)
    assert v.reasons
    assert all(isinstance(r.detail, str) and r.code for r in v.reasons)


@settings(max_examples=30, deadline=None)
@given(junk)
def test_non_dict_messages_are_explained(m):
    assert classify(m).reasons
