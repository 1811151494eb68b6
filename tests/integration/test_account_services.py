"""Accounts services: organizations and their domains, contacts by email, custom fields."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts import selectors, services
from accounts.choices import CustomFieldEntity
from accounts.models import Contact, ContactEmail, CustomFieldDefinition, Organization, OrganizationDomain
from accounts.services import AccountError
from tests import factories

pytestmark = pytest.mark.django_db


def _totals() -> tuple[int, int, int, int]:
    return (
        Organization.objects.count(),
        OrganizationDomain.objects.count(),
        Contact.objects.count(),
        ContactEmail.objects.count(),
    )


# --- domains ------------------------------------------------------------------------------------


def test_unknown_sender_at_subdomain_joins_org_owning_parent_domain():
    acme = factories.organization("Acme", domains=("acme.example",))
    contact, created = services.contact_get_or_create_by_email(email="jane@eu.sub.acme.example", name="Jane")
    assert created
    assert contact.organization_id == acme.pk
    assert list(contact.emails.values_list("email", flat=True)) == ["jane@eu.sub.acme.example"]


def test_most_specific_domain_wins():
    acme = factories.organization("Acme", domains=("acme.example",))
    labs = factories.organization("Acme Labs", domains=("labs.acme.example",))
    assert selectors.organization_for_email("a@x.labs.acme.example") == labs
    assert selectors.organization_for_email("a@shop.acme.example") == acme


def test_sender_at_unrelated_or_lookalike_domain_joins_no_org():
    factories.organization("Acme", domains=("acme.example",))
    for address in ("eve@notacme.example", "eve@acme.example.evil.test", "eve@gmail.com"):
        contact, _ = services.contact_get_or_create_by_email(email=address)
        assert contact.organization_id is None, address


def test_domain_claim_is_normalised():
    org = factories.organization("Acme")
    row = services.organization_add_domain(organization=org, domain="  @ACME.Example. ")
    assert row.domain == "acme.example"


@pytest.mark.parametrize("domain", ["gmail.com", "GMAIL.com", "web.de", "outlook.com"])
def test_freemail_domain_cannot_be_claimed(domain):
    org = factories.organization("Acme")
    with pytest.raises(AccountError, match="public email provider") as excinfo:
        services.organization_add_domain(organization=org, domain=domain)
    assert "domain" in excinfo.value.errors
    assert not OrganizationDomain.objects.exists()


@pytest.mark.parametrize("domain", ["localhost", "acme..example", "-acme.example", "acme.123", "a b.example"])
def test_invalid_domain_cannot_be_claimed(domain):
    org = factories.organization("Acme")
    with pytest.raises(AccountError, match="not a valid domain"):
        services.organization_add_domain(organization=org, domain=domain)
    assert not OrganizationDomain.objects.exists()


def test_domain_claimed_by_another_org_is_refused():
    acme = factories.organization("Acme", domains=("acme.example",))
    rival = factories.organization("Rival")
    with pytest.raises(AccountError, match="acme.example already belongs to Acme") as excinfo:
        services.organization_add_domain(organization=rival, domain="ACME.example")
    assert excinfo.value.errors == {"domain": "Claimed by another organization."}
    assert list(OrganizationDomain.objects.values_list("organization_id", flat=True)) == [acme.pk]


def test_claiming_own_domain_again_is_a_no_op():
    acme = factories.organization("Acme", domains=("acme.example",))
    row = OrganizationDomain.objects.get()
    assert services.organization_add_domain(organization=acme, domain="Acme.Example") == row
    assert OrganizationDomain.objects.count() == 1


@pytest.mark.parametrize("domains", [("acme.example", "gmail.com"), ("acme.example", "taken.example")])
def test_organization_create_with_one_bad_domain_writes_nothing(domains):
    factories.organization("Owner", domains=("taken.example",))
    before = _totals()
    with pytest.raises(AccountError):
        services.organization_create(name="Acme", domains=domains)
    assert _totals() == before
    assert not Organization.objects.filter(name="Acme").exists()


# --- contacts by email --------------------------------------------------------------------------


def test_emails_are_normalised_so_case_variants_are_one_contact():
    first, created_first = services.contact_get_or_create_by_email(email="Bob@ACME.example", name="Bob")
    second, created_second = services.contact_get_or_create_by_email(email="bob@acme.example")
    third, created_third = services.contact_get_or_create_by_email(email="  BOB@Acme.Example ")
    assert (created_first, created_second, created_third) == (True, False, False)
    assert first.pk == second.pk == third.pk
    assert list(ContactEmail.objects.values_list("email", flat=True)) == ["bob@acme.example"]


def test_contact_get_or_create_is_idempotent():
    factories.organization("Acme", domains=("acme.example",))
    contact, created = services.contact_get_or_create_by_email(email="ann@acme.example", name="Ann")
    before = _totals()
    again, created_again = services.contact_get_or_create_by_email(email="ann@acme.example", name="Other name")
    assert created
    assert not created_again
    assert again.pk == contact.pk
    assert again.name == "Ann"
    assert _totals() == before


def test_contact_create_refuses_an_address_already_in_use_in_another_case():
    factories.contact(email="bob@acme.example")
    before = _totals()
    with pytest.raises(AccountError, match="already belongs to another contact"):
        services.contact_create(email="BOB@acme.EXAMPLE", name="Bob again")
    assert _totals() == before


@pytest.mark.parametrize("address", ["not-an-address", "two@@at.example", "no-domain@", "x@localhost"])
def test_contact_get_or_create_refuses_invalid_address(address):
    before = _totals()
    with pytest.raises(AccountError) as excinfo:
        services.contact_get_or_create_by_email(email=address)
    assert "email" in excinfo.value.errors
    assert _totals() == before


def test_contact_created_with_the_same_address_twice_in_different_case_stores_it_once():
    contact = services.contact_create(email="ann@x.example", extra_emails=["ANN@x.example", "ann2@x.example"])
    assert list(contact.emails.order_by("email").values_list("email", "is_primary")) == [
        ("ann2@x.example", False),
        ("ann@x.example", True),
    ]


def test_contact_added_email_is_normalised_and_found():
    contact = factories.contact(email="ann@home.example")
    services.contact_add_email(contact=contact, email="Ann@WORK.example")
    assert selectors.contact_by_email("ann@work.example") == contact
    assert selectors.contact_by_email("ANN@work.EXAMPLE") == contact


# --- custom fields ------------------------------------------------------------------------------


@pytest.fixture
def org_fields(db):
    org = CustomFieldEntity.ORGANIZATION
    CustomFieldDefinition.objects.create(
        entity=org, key="seats", label="Seats", field_type="integer", min_value=1, max_value=1000
    )
    CustomFieldDefinition.objects.create(
        entity=org, key="plan", label="Plan", field_type="choice", choices=["basic", "pro"]
    )
    CustomFieldDefinition.objects.create(entity=org, key="renewal", label="Renewal", field_type="date")
    CustomFieldDefinition.objects.create(
        entity=org, key="sap_number", label="SAP no.", field_type="text", required=True
    )
    CustomFieldDefinition.objects.create(entity=org, key="retired", label="Retired", field_type="text", is_active=False)
    # A contact field with the same key must not apply to organizations, and vice versa.
    CustomFieldDefinition.objects.create(
        entity=CustomFieldEntity.CONTACT, key="shoe_size", label="Shoe size", field_type="integer"
    )


def test_organization_create_stores_typed_custom_fields(org_fields):
    org = services.organization_create(
        name="Acme",
        custom_fields={"seats": " 25 ", "plan": "pro", "renewal": dt.date(2030, 1, 31), "sap_number": " 4711 "},
    )
    org.refresh_from_db()
    assert org.custom_fields == {"seats": 25, "plan": "pro", "renewal": "2030-01-31", "sap_number": "4711"}


def test_organization_create_with_bad_custom_fields_reports_each_field_and_writes_nothing(org_fields):
    before = _totals()
    with pytest.raises(AccountError) as excinfo:
        services.organization_create(
            name="Acme",
            domains=("acme.example",),
            custom_fields={
                "seats": "lots",
                "plan": "platinum",
                "renewal": "31.01.2030",
                "shoe_size": 42,
                "retired": "x",
            },
        )
    assert excinfo.value.errors == {
        "custom_fields.seats": "Enter a whole number.",
        "custom_fields.plan": "Choose one of: basic, pro.",
        "custom_fields.renewal": "Enter a date as YYYY-MM-DD.",
        "custom_fields.sap_number": "This field is required.",
        "custom_fields.shoe_size": "Unknown field.",
        "custom_fields.retired": "Unknown field.",
    }
    assert _totals() == before


@pytest.mark.parametrize(
    ("value", "message"),
    [(0, "At least 1"), (1001, "At most 1000"), (True, "Enter a whole number."), ("2.5", "Enter a whole number.")],
)
def test_integer_custom_field_checks_type_and_range(org_fields, value, message):
    with pytest.raises(AccountError) as excinfo:
        services.organization_create(name="Acme", custom_fields={"seats": value, "sap_number": "1"})
    assert excinfo.value.errors["custom_fields.seats"].startswith(message)
    assert not Organization.objects.exists()


def test_organization_set_custom_fields_updates_only_the_given_fields(org_fields):
    org = services.organization_create(name="Acme", custom_fields={"sap_number": "4711", "plan": "basic"})
    services.organization_set_custom_fields(organization=org, values={"seats": "10", "plan": "pro"})
    org.refresh_from_db()
    assert org.custom_fields == {"sap_number": "4711", "plan": "pro", "seats": 10}


def test_organization_set_custom_fields_can_clear_optional_but_not_required(org_fields):
    org = services.organization_create(name="Acme", custom_fields={"sap_number": "4711", "plan": "basic"})
    services.organization_set_custom_fields(organization=org, values={"plan": ""})
    org.refresh_from_db()
    assert org.custom_fields == {"sap_number": "4711"}
    with pytest.raises(AccountError) as excinfo:
        services.organization_set_custom_fields(organization=org, values={"sap_number": "  "})
    assert excinfo.value.errors == {"custom_fields.sap_number": "This field is required."}
    org.refresh_from_db()
    assert org.custom_fields == {"sap_number": "4711"}


def test_organization_set_bad_custom_fields_writes_nothing(org_fields):
    org = services.organization_create(name="Acme", custom_fields={"sap_number": "4711", "seats": 5})
    stamp = Organization.objects.get(pk=org.pk).updated_at
    with pytest.raises(AccountError) as excinfo:
        services.organization_set_custom_fields(
            organization=org, values={"seats": "6", "renewal": "2030-02-30", "sap_number": "a\nb"}
        )
    assert set(excinfo.value.errors) == {"custom_fields.renewal", "custom_fields.sap_number"}
    fresh = Organization.objects.get(pk=org.pk)
    assert fresh.custom_fields == {"sap_number": "4711", "seats": 5}
    assert fresh.updated_at == stamp


def test_contact_custom_fields_are_validated_on_create_and_set(org_fields):
    contact = services.contact_create(email="ann@home.example", name="Ann", custom_fields={"shoe_size": "38"})
    contact.refresh_from_db()
    assert contact.custom_fields == {"shoe_size": 38}

    with pytest.raises(AccountError) as excinfo:
        services.contact_set_custom_fields(contact=contact, values={"shoe_size": "big", "seats": 3})
    assert excinfo.value.errors == {
        "custom_fields.shoe_size": "Enter a whole number.",
        "custom_fields.seats": "Unknown field.",
    }
    contact.refresh_from_db()
    assert contact.custom_fields == {"shoe_size": 38}

    services.contact_set_custom_fields(contact=contact, values={"shoe_size": 39})
    contact.refresh_from_db()
    assert contact.custom_fields == {"shoe_size": 39}


def test_contact_create_with_bad_custom_fields_writes_no_contact_or_email(org_fields):
    before = _totals()
    with pytest.raises(AccountError) as excinfo:
        services.contact_create(email="ann@home.example", custom_fields={"shoe_size": "x"})
    assert "custom_fields.shoe_size" in excinfo.value.errors
    assert _totals() == before


def test_account_manager_must_be_an_active_agent():
    customer = factories.customer_user(factories.contact())
    with pytest.raises(AccountError, match="active agent") as excinfo:
        services.organization_create(name="Acme", account_manager=customer)
    assert "account_manager" in excinfo.value.errors
    assert not Organization.objects.exists()
