"""Deterministic helpers shared by the tenant generator modules: ids, timestamps, name pools."""

from __future__ import annotations

import base64
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

Json = dict[str, Any]

DEFAULT_START = datetime(2025, 6, 2, 9, 0, 0, tzinfo=UTC)
"""The generator's "now" when none is given (fixed so a seed always yields the same tenant)."""


def new_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from ``rng`` (never from the OS)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def iso(dt: datetime) -> str:
    """Graph's DateTimeOffset text (UTC, seconds)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc2822(dt: datetime) -> str:
    """An RFC 5322 ``Date`` header value."""
    return dt.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


def days_before(rng: random.Random, start: datetime, max_days: float, min_days: float = 0.0) -> datetime:
    """A time uniformly drawn from ``max_days`` .. ``min_days`` before ``start`` (whole seconds)."""
    return start - timedelta(seconds=int(rng.uniform(min_days * 86400, max_days * 86400)))


def exchange_id(rng: random.Random, key: bytes, kind: bytes = b"\x07\x00") -> str:
    """An Exchange-style REST id (``AAMkAD...``, base64url) for a message or folder of a mailbox."""
    raw = b"\x00\x00\x00\x03\x24" + key + b"\x00\x46\x00\x00\x00\x00" + kind + rng.randbytes(22)
    return base64.urlsafe_b64encode(raw).decode()


def rule_id(rng: random.Random) -> str:
    """An Exchange rule id (``AQAAAJ5dZqA=``) without ``/`` or ``+``."""
    while True:
        rid = base64.b64encode(b"\x01\x00\x00\x00" + rng.randbytes(4)).decode()
        if "/" not in rid and "+" not in rid:
            return rid


def change_key(rng: random.Random) -> str:
    return base64.b64encode(b"\x09\x00\x00\x00\x16\x00\x00\x00" + rng.randbytes(12)).decode()


def address(name: str | None, addr: str) -> Json:
    """A Graph ``recipient``: ``{"emailAddress": {"name", "address"}}``."""
    return {"emailAddress": {"name": name or addr, "address": addr}}


FIRST_NAMES = (
    "Ann Adele Alex Allan Amir Anika Ben Bianca Carlos Chen Chloe Dana Daniel Diego Elena Emil Emma "
    "Farah Felix Grace Hana Hugo Ines Isaac Ivan Jana Jonas Julia Kai Karin Lars Lea Leo Lina Lucas "
    "Maya Megan Mei Nadia Nathan Nia Noah Olga Omar Oscar Paula Pedro Priya Quinn Rafael Rita Rosa "
    "Sam Sara Sofia Tariq Tess Tomas Uma Victor Vera Wei Yara Yusuf Zoe Aaron Beatriz Camille Dmitri "
    "Eva Finn Giulia Hiro Ingrid Joao Keiko Liam Marta Nils Orla Pablo Rhea Sven Thea Ulla Wanda"
).split()
LAST_NAMES = (
    "Lee Smith Garcia Muller Rossi Kim Nguyen Patel Silva Novak Jensen Kowalski Haddad Okafor Tanaka "
    "Larsen Dubois Moreau Schmidt Fischer Weber Ivanova Petrov Costa Santos Ferreira Romano Bianchi "
    "Khan Ali Chen Wang Li Zhang Sato Suzuki Ito Park Choi Brown Wilson Taylor Davies Evans Walker "
    "Wright Hughes Green Hall Wood Harris Martin Clarke Lewis Young King Baker Turner Hill Adams "
    "Campbell Mitchell Roberts Carter Phillips Parker Collins Murphy Rivera Cooper Reed Bailey Bell "
    "Gomez Kelly Howard Ward Cox Diaz Richards Torres Peterson Gray Ramirez James Watson Brooks Sanders"
).split()
DEPARTMENTS: dict[str, tuple[str, ...]] = {
    "Finance": (
        "Accountant",
        "Financial Analyst",
        "Accounts Payable Clerk",
        "Controller",
        "Payroll Specialist",
    ),
    "Sales": ("Account Executive", "Sales Manager", "Sales Development Rep", "Key Account Manager"),
    "Marketing": ("Marketing Manager", "Content Strategist", "Brand Designer", "Campaign Specialist"),
    "Engineering": (
        "Software Engineer",
        "Senior Software Engineer",
        "Engineering Manager",
        "QA Engineer",
        "Site Reliability Engineer",
    ),
    "IT": ("IT Administrator", "Service Desk Analyst", "Security Analyst", "Systems Engineer"),
    "Human Resources": ("HR Business Partner", "Recruiter", "HR Coordinator"),
    "Operations": ("Operations Manager", "Logistics Coordinator", "Facilities Manager", "Buyer"),
    "Legal": ("Corporate Counsel", "Paralegal", "Compliance Officer"),
    "Customer Support": ("Support Engineer", "Customer Success Manager", "Support Team Lead"),
}
EXECUTIVE_TITLES = (
    "Chief Executive Officer",
    "Chief Financial Officer",
    "Chief Operating Officer",
    "Chief Technology Officer",
    "Chief Information Security Officer",
    "Chief Human Resources Officer",
    "General Counsel",
)
EXECUTIVE_DEPARTMENTS = (
    "Executive",
    "Finance",
    "Operations",
    "Engineering",
    "IT",
    "Human Resources",
    "Legal",
)
ORG_NAMES = (
    "contoso",
    "fabrikam",
    "northwind",
    "adatum",
    "tailspin",
    "woodgrove",
    "litware",
    "proseware",
    "wingtip",
    "fourthcoffee",
    "relecloud",
    "alpineski",
    "lucerne",
    "margies",
    "trey",
)
CITIES = (
    ("Seattle", "US"),
    ("London", "GB"),
    ("Berlin", "DE"),
    ("Paris", "FR"),
    ("Toronto", "CA"),
    ("Sydney", "AU"),
    ("Amsterdam", "NL"),
    ("Madrid", "ES"),
    ("Dublin", "IE"),
)
PARTNER_DOMAINS = (
    "fabrikam.com",
    "northwindtraders.com",
    "adventure-works.com",
    "wideworldimporters.com",
    "tailspintoys.com",
    "litwareinc.com",
    "proseware.com",
    "alpineskihouse.com",
    "lucernepublishing.com",
    "treyresearch.net",
    "coho-winery.com",
    "margiestravel.com",
)
