"""Branding: desk settings edited in the admin, a checked logo served safely, the name in the portal and in mail."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from channels_intake import outbound
from service_desk import branding
from service_desk.models import DeskSettings
from tests import factories
from tests.unit.test_csat_branding_rules import png_bytes
from tickets import services
from tickets.choices import DeliveryStatus

pytestmark = pytest.mark.django_db

CHANGE_URL = "admin:service_desk_desksettings_change"


@pytest.fixture(autouse=True)
def _fresh_brand(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SERVICE_DESK_NAME = "Service Desk"
    settings.DEFAULT_FROM_EMAIL = "Service Desk <support@desk.example>"
    branding.forget()
    yield
    branding.forget()


def _post(admin_client, **changes):
    data = {
        "name": "Acme Help",
        "primary_colour": "#112233",
        "accent_colour": "#445566",
        "portal_reopen_days": "7",
        "csat_enabled": "on",
    }
    data.update(changes)
    data = {k: v for k, v in data.items() if v is not None}
    return admin_client.post(reverse(CHANGE_URL, args=[1]), data)


# --- The admin --------------------------------------------------------------------------------------


def test_the_settings_list_opens_the_one_row_and_nothing_can_be_added_or_deleted(admin_client):
    response = admin_client.get(reverse("admin:service_desk_desksettings_changelist"))
    assert response.status_code == 302 and response["Location"] == reverse(CHANGE_URL, args=[1])
    assert DeskSettings.objects.count() == 1
    assert admin_client.get(reverse("admin:service_desk_desksettings_add")).status_code == 403
    assert (
        admin_client.post(reverse("admin:service_desk_desksettings_delete", args=[1]), {"post": "yes"}).status_code
        == 403
    )
    assert DeskSettings.objects.count() == 1
    page = admin_client.get(reverse(CHANGE_URL, args=[1]))
    assert page.status_code == 200 and "csat_enabled" in page.content.decode()


def test_an_admin_edit_changes_the_brand_at_once(admin_client):
    assert branding.brand().name == "Service Desk"  # cached now
    admin_client.get(reverse("admin:service_desk_desksettings_changelist"))
    logo = SimpleUploadedFile("my logo.png", png_bytes(), content_type="image/png")
    response = _post(admin_client, logo=logo)
    assert response.status_code == 302, response.content.decode()[:2000]
    row = DeskSettings.objects.get()
    assert (row.name, row.primary_colour, row.portal_reopen_days) == ("Acme Help", "#112233", 7)
    assert re.fullmatch(r"branding/logo-[0-9a-f]{16}\.png", row.logo.name)
    current = branding.brand()  # the cache was dropped on save
    assert (current.name, current.primary_colour, current.accent_colour) == ("Acme Help", "#112233", "#445566")
    assert current.logo_url.startswith(reverse("portal:brand_logo") + "?v=")


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "image/svg+xml"),
        ("logo.png", b"<!doctype html><html><body><script>alert(1)</script></body></html>", "image/png"),
        ("logo.png", png_bytes(1024 * 1024 + 100), "image/png"),
    ],
    ids=["svg", "html-as-png", "oversize"],
)
def test_bad_logos_are_refused_with_a_reason(admin_client, name, data, content_type):
    admin_client.get(reverse("admin:service_desk_desksettings_changelist"))
    response = _post(admin_client, logo=SimpleUploadedFile(name, data, content_type=content_type))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "logo" in errors
    assert "PNG, JPEG, GIF or WebP" in str(errors["logo"]) or "1 MB" in str(errors["logo"])
    assert not DeskSettings.objects.get().logo


def test_a_colour_that_is_not_hex_is_refused(admin_client):
    admin_client.get(reverse("admin:service_desk_desksettings_changelist"))
    response = _post(admin_client, primary_colour="red;}</style><script>")
    assert response.status_code == 200
    assert "primary_colour" in response.context["adminform"].form.errors
    assert DeskSettings.objects.get().primary_colour == "#1f5fbf"


# --- Serving the logo and colours --------------------------------------------------------------------


def test_the_logo_is_served_with_its_sniffed_type_nosniff_and_caching(admin_client, client):
    assert client.get(reverse("portal:brand_logo")).status_code == 404  # none yet
    admin_client.get(reverse("admin:service_desk_desksettings_changelist"))
    _post(admin_client, logo=SimpleUploadedFile("x.png", png_bytes(), content_type="text/html"))
    url = branding.brand().logo_url
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "public" in response["Cache-Control"] and "max-age" in response["Cache-Control"]
    assert response.content == png_bytes()
    assert "sandbox" in response["Content-Security-Policy"]
    again = client.get(url, HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304


def test_a_file_that_is_not_an_image_is_never_served_as_the_logo(client):
    from django.core.files.base import ContentFile

    row = branding.desk_settings()
    row.logo.save("branding/evil.png", ContentFile(b"<html><script>alert(1)</script></html>"), save=False)
    branding.desk_settings_save(row)
    assert client.get(reverse("portal:brand_logo")).status_code == 404


def test_the_colours_stylesheet(client):
    row = branding.desk_settings()
    row.primary_colour, row.accent_colour = "#aa0000", "#00bb00"
    branding.desk_settings_save(row)
    response = client.get(branding.brand().css_url)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/css")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "--brand: #aa0000" in response.content.decode() and "--accent: #00bb00" in response.content.decode()


# --- The name in the portal and in mail --------------------------------------------------------------


def _rename(name: str) -> None:
    row = branding.desk_settings()
    row.name = name
    branding.desk_settings_save(row)


def test_the_portal_shows_the_brand_name_logo_and_colours(client, django_assert_max_num_queries):
    _rename("Acme Help")
    with django_assert_max_num_queries(2):  # the brand (cold cache) and the session at most
        response = client.get(reverse("portal:csat", args=["not-a-token"]))
    html = response.content.decode()
    assert response.status_code == 400
    assert "<title>" in html and "· Acme Help</title>" in html
    assert 'class="brand">Acme Help</a>' in html
    assert branding.brand().css_url in html
    # The brand is read once and then cached: the next page costs no query for it.
    with django_assert_max_num_queries(0):
        client.get(reverse("portal:csat", args=["not-a-token"]))


def test_an_empty_name_falls_back_to_service_desk_name(settings, client):
    settings.SERVICE_DESK_NAME = "Contoso Support"
    _rename("")
    assert branding.brand().name == "Contoso Support"
    assert "· Contoso Support</title>" in client.get(reverse("portal:csat", args=["x"])).content.decode()


def test_acknowledgement_and_reply_emails_carry_the_brand_name(client):
    _rename("Acme Help")
    team = factories.team()
    agent = factories.agent(teams=[team])
    customer = factories.contact(email="dora@consumer.example", name="Dora")
    ticket = factories.ticket(requester=customer, subject="Lost parcel", team=team)

    assert outbound.acknowledgement_send(ticket.pk) is True
    ack = mail.outbox[-1]
    assert ack.from_email == "Acme Help <support@desk.example>"
    assert ack.body.rstrip().endswith("Acme Help")

    message = services.ticket_reply(ticket=ticket, by=services.Actor.agent(agent), body_text="On its way.")
    assert outbound.reply_email_send(message.pk) == DeliveryStatus.SENT
    reply = mail.outbox[-1]
    assert reply.from_email == "Acme Help <support@desk.example>"
    assert reply.to == ["dora@consumer.example"]


def test_portal_account_mails_carry_the_brand_name(client, django_capture_on_commit_callbacks):
    _rename("Acme Help")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("portal:signup"),
            {
                "name": "Dora",
                "email": "dora@consumer.example",
                "password1": "Blue kettle 7",
                "password2": "Blue kettle 7",
            },
        )
    sent = mail.outbox[-1]
    assert sent.to == ["dora@consumer.example"]
    assert sent.from_email == "Acme Help <support@desk.example>"
    assert "Acme Help" in sent.body
