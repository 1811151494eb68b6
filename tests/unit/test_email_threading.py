from channels_intake.email.threading import Action, Rule, TicketFacts, candidate_message_ids, decide

TICKETS = {
    10: TicketFacts(10, False, None, requester_id=1, organization_id=100, cc_contact_ids=frozenset({2})),
    11: TicketFacts(11, True, None, requester_id=1, organization_id=None, cc_contact_ids=frozenset()),
    12: TicketFacts(12, True, 10, requester_id=3, organization_id=None, cc_contact_ids=frozenset()),
    13: TicketFacts(13, False, None, requester_id=5, organization_id=None, cc_contact_ids=frozenset()),
}


def place(**overrides):
    arguments = {
        "in_reply_to": "",
        "references": (),
        "known_message_ids": {},
        "subject_ticket_ids": (),
        "facts": TICKETS.get,
        "sender_contact_id": 1,
        "sender_organization_id": None,
    }
    arguments.update(overrides)
    return decide(**arguments)


def test_candidates_are_in_reply_to_then_references_newest_first_without_repeats():
    assert candidate_message_ids("<c>", ["<a>", "<b>", "<c>"]) == [
        ("<c>", Rule.IN_REPLY_TO),
        ("<b>", Rule.REFERENCES),
        ("<a>", Rule.REFERENCES),
    ]


def test_in_reply_to_wins_over_references_and_subject():
    decision = place(
        in_reply_to="<x>", references=["<y>"], known_message_ids={"<x>": 10, "<y>": 13}, subject_ticket_ids=[13]
    )
    assert (decision.action, decision.rule, decision.ticket_id) == (Action.APPEND, Rule.IN_REPLY_TO, 10)


def test_newest_known_reference_is_used():
    decision = place(references=["<old>", "<new>", "<unknown>"], known_message_ids={"<old>": 13, "<new>": 10})
    assert (decision.rule, decision.ticket_id) == (Rule.REFERENCES, 10)


def test_subject_token_from_requester_cc_or_same_organization_appends():
    assert place(subject_ticket_ids=[10], sender_contact_id=1).ticket_id == 10
    assert place(subject_ticket_ids=[10], sender_contact_id=2).rule is Rule.SUBJECT_TOKEN
    colleague = place(subject_ticket_ids=[10], sender_contact_id=77, sender_organization_id=100)
    assert (colleague.action, colleague.ticket_id) == (Action.APPEND, 10)


def test_subject_token_from_a_stranger_opens_a_linked_new_ticket():
    decision = place(subject_ticket_ids=[10], sender_contact_id=99, sender_organization_id=555)
    assert decision == place(subject_ticket_ids=[10], sender_contact_id=None)
    assert (decision.action, decision.rule, decision.related_ticket_id) == (
        Action.NEW_LINKED,
        Rule.SUBJECT_TOKEN_UNTRUSTED,
        10,
    )


def test_reply_to_closed_ticket_opens_follow_up():
    decision = place(in_reply_to="<x>", known_message_ids={"<x>": 11})
    assert (decision.action, decision.rule, decision.related_ticket_id) == (Action.NEW_LINKED, Rule.FOLLOW_UP, 11)


def test_merged_ticket_is_followed_to_its_target():
    decision = place(in_reply_to="<x>", known_message_ids={"<x>": 12})
    assert (decision.action, decision.ticket_id) == (Action.APPEND, 10)


def test_unknown_ids_and_tokens_open_a_new_ticket():
    decision = place(in_reply_to="<nope>", subject_ticket_ids=[999])
    assert (decision.action, decision.rule) == (Action.NEW_TICKET, Rule.NEW)


def test_merge_cycles_stop_after_a_bounded_number_of_hops():
    cyclic = {
        1: TicketFacts(1, False, 2, requester_id=1, organization_id=None, cc_contact_ids=frozenset()),
        2: TicketFacts(2, False, 1, requester_id=1, organization_id=None, cc_contact_ids=frozenset()),
    }
    decision = place(in_reply_to="<x>", known_message_ids={"<x>": 1}, facts=cyclic.get)
    assert decision.action is Action.APPEND
