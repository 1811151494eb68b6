"""An agent sets their own language and time zone, and pages follow them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db


def test_agent_switches_to_german_and_berlin_time(client):
    agent = factories.agent(username="ana")
    client.force_login(agent)
    response = client.post(
        reverse("desk:preferences"), {"language": "de", "time_zone": "America/New_York", "signature": "Ana"}
    )
    assert response.status_code == 302
    agent.agent_profile.refresh_from_db()
    assert (agent.agent_profile.language, agent.agent_profile.time_zone) == ("de", "America/New_York")
    page = client.get(reverse("desk:preferences"))
    assert page["Content-Language"] == "de"
    assert page.context["TIME_ZONE"] == "America/New_York"


def test_unknown_language_or_zone_is_a_form_error_and_changes_nothing(client):
    agent = factories.agent(username="ana")
    client.force_login(agent)
    response = client.post(reverse("desk:preferences"), {"language": "xx", "time_zone": "Mars/Olympus"})
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"language", "time_zone"}
    agent.agent_profile.refresh_from_db()
    assert agent.agent_profile.language == "en"


def test_customers_cannot_open_agent_preferences(client):
    user = factories.customer_user(factories.contact())
    client.force_login(user)
    assert client.get(reverse("desk:preferences")).status_code == 404
