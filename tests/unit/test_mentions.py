"""@mentions in internal notes: which usernames and quoted full names a text names."""

from __future__ import annotations

from tickets.domain.mentions import Mentions, full_name_key, parse_mentions


def test_usernames_and_quoted_full_names_are_found_in_order_without_duplicates():
    found = parse_mentions('@ben, can you and @"Carla  Jones" check? cc @Ben @ana.b-2')
    assert found == Mentions(usernames=("ben", "ana.b-2"), full_names=("carla jones",))


def test_email_addresses_and_embedded_at_signs_are_not_mentions():
    assert not parse_mentions("Write to ana@example.com or support@desk; price 5@3")


def test_trailing_punctuation_is_not_part_of_a_username():
    assert parse_mentions("Thanks @ben. And @carla- yes @dora+").usernames == ("ben", "carla", "dora")


def test_mentions_at_the_start_after_brackets_and_on_new_lines():
    assert parse_mentions("@ana\n(@ben) [@carla]").usernames == ("ana", "ben", "carla")


def test_unclosed_quote_and_lone_at_sign_mention_nobody():
    assert not parse_mentions('@ "@ @"Carla')
    assert parse_mentions('@"Carla').usernames == ()


def test_number_of_mentions_is_capped():
    text = " ".join(f"@user{i}" for i in range(50))
    assert len(parse_mentions(text, limit=20).usernames) == 20


def test_full_name_key_matches_quoted_mentions_whatever_the_spacing_and_case():
    assert full_name_key(" Carla", "JONES ") == parse_mentions('@"carla jones"').full_names[0]
