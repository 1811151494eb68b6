"""The pure parts of bulk jobs: reading the selection and tags, capping refusals, describing a job."""

from __future__ import annotations

import pytest
from django.utils import translation

from tickets import bulk


def test_ticket_ids_are_distinct_positive_and_sorted():
    assert bulk.parse_ticket_ids(["12", " 3", 7, "12"]) == [3, 7, 12]
    assert bulk.parse_ticket_ids([]) == []


@pytest.mark.parametrize("bad", ["abc", "", "-1", "0", "1.5", "1e3", "SD-4"])
def test_anything_but_a_ticket_id_is_refused(bad):
    with pytest.raises(ValueError, match="not a ticket id"):
        bulk.parse_ticket_ids(["1", bad])


def test_tags_are_split_on_commas_normalised_and_deduplicated():
    assert bulk.split_tags(" VIP, password reset ,, vip ") == ["vip", "password-reset"]
    assert bulk.split_tags("") == []


def test_an_invalid_tag_names_itself():
    with pytest.raises(ValueError, match="<b>"):
        bulk.split_tags("ok, <b>")


def test_refusals_are_listed_up_to_the_cap():
    refusals: list[dict] = []
    kept = [bulk.add_refusal(refusals, {"ticket": i}, cap=2) for i in range(4)]
    assert kept == [True, True, False, False]
    assert refusals == [{"ticket": 0}, {"ticket": 1}]


@pytest.mark.parametrize(
    ("action", "params", "text"),
    [
        ("assign", {"assignee": 4, "assignee_label": "Ana Lopez"}, "Assign to Ana Lopez"),
        ("assign", {"assignee": None}, "Unassign"),
        ("status", {"status": "solved"}, "Set status to Solved"),
        ("priority", {"priority": "urgent"}, "Set priority to Urgent"),
        ("team", {"team": 2, "team_label": "Billing"}, "Route to team Billing"),
        ("team", {"team": None}, "Remove from its team"),
        ("tags", {"add": ["vip"], "remove": ["old", "stale"]}, "Add tags vip; remove tags old, stale"),
        ("tags", {"add": [], "remove": ["old"]}, "Remove tags old"),
        ("macro", {"macro": 1, "macro_label": "Password reset"}, "Apply macro “Password reset”"),
        ("merge", {"target": 9, "target_label": "SD-9"}, "Merge into SD-9"),
        ("close", {}, "Close"),
    ],
)
def test_a_job_describes_what_it_does(action, params, text):
    with translation.override("en"):
        assert bulk.describe(action, params) == text


def test_every_action_names_its_fields():
    from tickets.models import BulkAction

    assert set(bulk.PARAM_FIELDS) == set(BulkAction.values)
    assert set(bulk.ALL_PARAM_FIELDS) == {
        "assignee",
        "status",
        "priority",
        "team",
        "add_tags",
        "remove_tags",
        "macro",
        "target",
    }
