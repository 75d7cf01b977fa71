"""The local user directory (Slack user ID → email, display name) that replaces users.info offline.

Format: `{"U123ABC": {"email": "ada@example.com", "name": "Ada"}}`. Staff roles never come from this file: they
come from FINEFIN_ADVISORS / FINEFIN_DIRECTORS, as in production.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from finefin.errors import FinefinError
from semantic_layer.api import SemanticLayer
from semantic_layer.errors import UnknownCustomerError
from semantic_layer.inputs import CustomerId

log = logging.getLogger(__name__)

DEMO_CUSTOMER = "UDEMOCUSTOMER"
DEMO_RED_CUSTOMER = "UDEMOREDCUSTOMER"
DEMO_OTHER_CUSTOMER = "UDEMOOTHERCUSTOMER"
DEMO_ADVISOR = "UDEMOADVISOR"
DEMO_DIRECTOR = "UDEMODIRECTOR"
DEMO_STRANGER = "UDEMOSTRANGER"


@dataclass(frozen=True)
class DemoPeople:
    """Who the demo acts as; customer ids are the real ones behind the demo customers."""

    path: Path
    customer: str
    customer_id: CustomerId
    red_customer: str | None
    red_customer_id: CustomerId | None
    advisor: str = DEMO_ADVISOR
    director: str = DEMO_DIRECTOR
    stranger: str = DEMO_STRANGER


def _first_customers(sl: SemanticLayer, wanted: int, exclude: set[CustomerId], scan: int = 50) -> list[CustomerId]:
    found: list[CustomerId] = []
    for n in range(1, scan + 1):
        cid = CustomerId(n)
        if cid in exclude:
            continue
        try:
            sl.customer(cid)
        except UnknownCustomerError:
            continue
        found.append(cid)
        if len(found) == wanted:
            break
    return found


def write_demo_directory(sl: SemanticLayer, path: Path) -> DemoPeople:
    """Pick real customers, add staff and a stranger.

    The main demo customer is one on the watchlist (they have activity to show), else the first customer; a second
    customer is in a red streak; a third is ordinary.
    """
    watchlist = sl.watchlist(None)
    red_id = watchlist.red_streaks[0].customer_id if watchlist.red_streaks else None
    watched = next((e.customer_id for e in watchlist.entries if e.customer_id != red_id), None)
    taken = {c for c in (red_id, watched) if c is not None}
    ordinary = _first_customers(sl, 1, taken)
    if not ordinary and watched is None:
        raise FinefinError("The semantic layer has no customers to put in the demo directory.")
    main_id = watched if watched is not None else ordinary[0]
    third = ordinary[0] if ordinary and watched is not None else None
    users: dict[str, dict[str, str]] = {}
    for user_id, cid in ((DEMO_CUSTOMER, main_id), (DEMO_RED_CUSTOMER, red_id), (DEMO_OTHER_CUSTOMER, third)):
        if cid is None:
            continue
        profile = sl.customer(cid)
        users[user_id] = {"email": profile.email, "name": profile.full_name}
    users[DEMO_ADVISOR] = {"email": "advisor@finefinance.example", "name": "Demo Advisor"}
    users[DEMO_DIRECTOR] = {"email": "director@finefinance.example", "name": "Demo Director"}
    users[DEMO_STRANGER] = {"email": "stranger@example.org", "name": "Not a customer"}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(users, indent=2, ensure_ascii=False) + "\n")
    log.info("wrote demo directory %s (%d users)", path, len(users))
    return DemoPeople(path, DEMO_CUSTOMER, main_id, DEMO_RED_CUSTOMER if red_id else None, red_id)
