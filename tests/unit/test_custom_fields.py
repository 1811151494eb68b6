from decimal import Decimal

import pytest

from accounts.domain.custom_fields import CustomFieldError, FieldSpec, FieldType, validate_key, validate_values

SPECS = [
    FieldSpec(key="seats", label="Seats", type=FieldType.INTEGER, min_value=Decimal(1), max_value=Decimal(500)),
    FieldSpec(key="sap_number", label="SAP number", type=FieldType.TEXT, required=True, max_length=10),
    FieldSpec(key="renewal", label="Renewal", type=FieldType.DATE),
    FieldSpec(key="region", label="Region", type=FieldType.CHOICE, choices=("emea", "apac")),
    FieldSpec(key="modules", label="Modules", type=FieldType.MULTI_CHOICE, choices=("crm", "erp", "hr")),
    FieldSpec(key="vip", label="VIP", type=FieldType.BOOLEAN),
    FieldSpec(key="rate", label="Rate", type=FieldType.DECIMAL),
    FieldSpec(key="portal", label="Portal", type=FieldType.URL),
]


def test_valid_values_are_coerced_to_their_types():
    result = validate_values(
        SPECS,
        {
            "seats": "12",
            "sap_number": " 4711 ",
            "renewal": "2027-01-31",
            "region": "emea",
            "modules": ["hr", "crm"],
            "vip": "yes",
            "rate": "12.50",
            "portal": "https://acme.example/x",
        },
    )
    assert result == {
        "seats": 12,
        "sap_number": "4711",
        "renewal": "2027-01-31",
        "region": "emea",
        "modules": ["crm", "hr"],
        "vip": True,
        "rate": "12.50",
        "portal": "https://acme.example/x",
    }


def test_every_problem_is_reported_at_once():
    with pytest.raises(CustomFieldError) as info:
        validate_values(
            SPECS,
            {"seats": "abc", "renewal": "31.01.2027", "region": "mars", "modules": "crm", "unknown": 1, "vip": "maybe"},
        )
    errors = info.value.errors
    assert set(errors) == {"seats", "renewal", "region", "modules", "unknown", "vip", "sap_number"}
    assert errors["sap_number"] == "This field is required."
    assert errors["unknown"] == "Unknown field."


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("seats", 0, "At least 1"),
        ("seats", 501, "At most 500"),
        ("seats", True, "whole number"),
        ("sap_number", "x" * 11, "At most 10"),
        ("sap_number", "a\nb", "Line breaks"),
        ("rate", "NaN", "Enter a number"),
        ("portal", "javascript:alert(1)", "http"),
    ],
)
def test_out_of_range_and_malformed_values_are_refused(key, value, message):
    values = {"sap_number": "1", key: value}
    with pytest.raises(CustomFieldError, match=message):
        validate_values(SPECS, values)


def test_partial_update_merges_and_blank_clears_optional_fields():
    existing = {"sap_number": "1", "seats": 3, "region": "apac"}
    assert validate_values(SPECS, {"seats": 4, "region": ""}, existing=existing, partial=True) == {
        "sap_number": "1",
        "seats": 4,
    }
    with pytest.raises(CustomFieldError, match="required"):
        validate_values(SPECS, {"sap_number": ""}, existing=existing, partial=True)


def test_full_set_replaces_stored_values():
    assert validate_values(SPECS, {"sap_number": "2"}, existing={"sap_number": "1", "seats": 3}) == {"sap_number": "2"}


@pytest.mark.parametrize("key", ["Seats", "1x", "with space", "a" * 51, ""])
def test_keys_must_be_machine_names(key):
    with pytest.raises(ValueError, match="key"):
        validate_key(key)


@pytest.mark.parametrize(
    ("key", "value"),
    [("portal", "https://acme.example/\nSet-Cookie: x"), ("sap_number", "ok"), ("region", "emea\n")],
)
def test_trailing_newlines_never_sneak_past_a_pattern(key, value):
    spec = {
        "portal": FieldSpec(key="portal", label="Portal", type=FieldType.URL),
        "sap_number": FieldSpec(key="sap_number", label="SAP", type=FieldType.EMAIL),
        "region": FieldSpec(key="region", label="Region", type=FieldType.CHOICE, choices=("emea",)),
    }[key]
    with pytest.raises(CustomFieldError):
        validate_values([spec], {key: value})
    with pytest.raises(ValueError, match="key"):
        validate_key("abc\n")
