"""Unknown and forbidden pages answer 404 in the frame of the area the visitor was in."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_a_portal_404_keeps_the_portal_frame_and_a_way_back(client):
    response = client.get("/portal/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html
    assert 'href="/portal/"' in html
    assert "portal-header" in html


def test_other_404s_use_the_plain_frame(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()
    assert "portal-header" not in response.content.decode()


def test_api_404s_keep_the_json_error_format(client):
    response = client.get("/api/v1/no-such-resource/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
