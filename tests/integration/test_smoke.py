import pytest

from tests import factories


@pytest.mark.django_db
def test_ticket_created_by_customer_gets_reference_and_organization_from_requester():
    org = factories.organization(domains=("acme.example",))
    requester = factories.contact(email="it@acme.example")
    ticket = factories.ticket(requester=requester)
    assert ticket.reference == f"SD-{ticket.pk}"
    assert ticket.organization == org
