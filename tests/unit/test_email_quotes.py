"""Reply splitting: the new text first, quotes and signatures apart, nothing lost.

The corpus is GitHub's email_reply_parser test set; the expectations below are the ones that
project's own tests state for each file (its ``visible_text`` / ``parse_reply`` and fragments).
"""

import re
import time
from pathlib import Path

import pytest

from channels_intake.email.quotes import SplitReply, split_reply

REPLY_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mail" / "email_reply_parser"
needs_corpus = pytest.mark.skipif(not REPLY_DIR.is_dir(), reason=f"shared reply corpus not found at {REPLY_DIR}")


def split_file(name: str) -> SplitReply:
    return split_reply((REPLY_DIR / name).read_text(encoding="utf-8"))


def words(text: str) -> list[str]:
    return re.findall(r"\S+", text)


# (file, visible text exactly, start of the quoted part or "" when nothing is quoted)
CORPUS_EXPECTATIONS = [
    (
        "email_1_1.txt",
        "Hi folks\n\nWhat is the best way to clear a Riak bucket of all key, values after \nrunning a test?\n"
        "I am currently using the Java HTTP API.",
        "-Abhishek Kona\n\n\n____",
    ),
    ("email_1_3.txt", "Oh thanks.\n\nHaving the function would be great.", "-Abhishek Kona\n\nOn 01/03/11 7:07 PM"),
    ("email_1_4.txt", "Awesome! I haven't had another problem with it.", "On Aug 22, 2011, at 7:37 PM, defunkt"),
    (
        "email_1_6.txt",
        "I get proper rendering as well.\n\nSent from a magnificent torch of pixels",
        "On Dec 16, 2011, at 12:47 PM, Corey Donohoe\n<reply@reply.github.com>\nwrote:",
    ),
    ("email_1_7.txt", ":+1:", "On Tue, Sep 25, 2012 at 8:59 AM, Chris Wanstrath\n<notifications@github.com>wrote:"),
    ("email_2_1.txt", "Outlook with a reply", " ------------------------------\n\n*From:* Google Apps Sync Team"),
    ("email_2_2.txt", "Outlook with a reply directly above line", "________________________________________\nFrom:"),
    (
        "email_2_3.txt",
        "Outlook with a reply directly above line",
        "From: CRM Comments [crm-comment@example.com]\nSent:",
    ),
    ("email_BlackBerry.txt", "Here is another email", "Sent from my BlackBerry"),
    ("email_iPhone.txt", "Here is another email", "Sent from my iPhone"),
    ("email_multi_word_sent_from_my_mobile_device.txt", "Here is another email", "Sent from my Verizon Wireless"),
    (
        "email_sent_from_my_not_signature.txt",
        "Here is another email\n\nSent from my desk, is much easier then my mobile phone.",
        "",
    ),
    ("correct_sig.txt", "this is an email with a correct -- signature.", "-- \nrick"),
    (
        "email_sig_delimiter_in_middle_of_line.txt",
        "Hi there!\n\nStuff happened.\n\nAnd here is a fix -- this is not a signature.\n\nkthxbai",
        "",
    ),
    (
        "email_bullets.txt",
        "test 2 this should list second\n\nand have spaces\n\nand retain this formatting\n\n\n"
        "   - how about bullets\n   - and another",
        "On Fri, Feb 24, 2012 at 10:19 AM, <examples@email.goalengine.com> wrote:",
    ),
]


@needs_corpus
@pytest.mark.parametrize(("name", "visible", "quoted_start"), CORPUS_EXPECTATIONS)
def test_reply_corpus_visible_and_quoted(name, visible, quoted_start):
    split = split_file(name)
    assert split.visible == visible
    assert split.quoted.startswith(quoted_start)
    if not quoted_start:
        assert split.quoted == ""


@needs_corpus
def test_bottom_post_keeps_the_inline_answer_visible():
    split = split_file("email_1_2.txt")
    assert split.visible.startswith("Hi,\nOn Tue, 2011-03-01 at 18:02 +0530, Abhishek Kona wrote:\n> Hi folks")
    assert "You can list the keys for the bucket" in split.visible
    assert split.visible.endswith('you’ll need to delete them all individually."')
    assert split.quoted.startswith("> \n> -Abhishek Kona")
    assert split.quoted.endswith("riak-users_lists.basho.com")


@needs_corpus
def test_inline_replies_stay_visible_up_to_the_last_new_line():
    split = split_file("email_1_8.txt")
    assert split.visible.startswith("On Tue, Apr 29, 2014 at 4:22 PM, Example Dev <sugar@example.com>wrote:")
    assert "I will reply under this one" in split.visible
    assert split.visible.endswith("and under this.")
    assert split.quoted.startswith(">\n> -- Tim")
    assert split.quoted.endswith("--\nHey there, this is my signature")


@needs_corpus
@pytest.mark.parametrize(
    ("name", "visible_end", "quoted_start"),
    [
        ("email_one_is_not_on.txt", "Locally (on development), when I run...", "On Oct 1, 2012, at 11:55 PM"),
        ("greedy_on.txt", "fails, the tunnel is not working.", "On 9 Jan 2014, at 2:47, George Plymale wrote:"),
        ("pathological.txt", "get back to a computer.", 'On Dec 8, 2013 2:10 PM, "John Sullivan"'),
        ("email_1_5.txt", "for a while.", ""),
    ],
)
def test_lines_starting_with_on_are_not_quote_headers_unless_they_are(name, visible_end, quoted_start):
    split = split_file(name)
    assert split.visible.endswith(visible_end)
    assert split.quoted.startswith(quoted_start)


@needs_corpus
def test_greedy_on_keeps_the_first_line():
    assert split_file("greedy_on.txt").visible.startswith("On your remote host you can run:\n\n     telnet")


@needs_corpus
@pytest.mark.parametrize("path", sorted(REPLY_DIR.glob("*.txt")) if REPLY_DIR.is_dir() else [], ids=lambda p: p.name)
def test_nothing_of_substance_is_lost(path):
    text = path.read_text(encoding="utf-8")
    split = split_reply(text)
    assert words(split.visible) + words(split.quoted) == words(text)


@needs_corpus
def test_pathological_input_is_fast():
    text = (REPLY_DIR / "pathological.txt").read_text(encoding="utf-8")
    started = time.perf_counter()
    for _ in range(20):
        split_reply(text)
    assert time.perf_counter() - started < 1


# --- German and Outlook variants -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "visible", "quoted_start"),
    [
        (
            "Danke, passt.\n\nAm 07.05.2012 08:10, schrieb Martin Edenhofer via Znuny Team:\n> Hallo\n> Gruß",
            "Danke, passt.",
            "Am 07.05.2012 08:10, schrieb Martin",
        ),
        (
            "Danke!\n\nAm Mo., 7. Mai 2012 um 08:10 Uhr schrieb Martin Example <\nmartin@example.com>:\n\n> Hallo",
            "Danke!",
            "Am Mo., 7. Mai 2012 um 08:10 Uhr schrieb",
        ),
        (
            "Bitte prüfen.\n\n-----Ursprüngliche Nachricht-----\nVon: Support\nGesendet: Montag\nAn: Kunde\n\nText",
            "Bitte prüfen.",
            "-----Ursprüngliche Nachricht-----",
        ),
        (
            "Please check.\n\n-----Original Message-----\nFrom: Support\nSent: Monday\n\nOlder text",
            "Please check.",
            "-----Original Message-----",
        ),
        (
            "Geht wieder.\n\nVon: Support <support@desk.example>\nGesendet: Montag, 3. März 2025 10:00\n"
            "An: Kunde\nBetreff: AW: Drucker\n\nHallo, bitte neu starten.",
            "Geht wieder.",
            "Von: Support <support@desk.example>",
        ),
        (
            "Works now.\nFrom: Support <support@desk.example>\nDate: Monday\nTo: me\n\nold text",
            "Works now.",
            "From: Support",
        ),
        ("Bis gleich\n\nVon meinem iPhone gesendet\n\n> zitat", "Bis gleich", "Von meinem iPhone gesendet"),
        ("Ok\n\nGesendet von meinem Samsung Galaxy Smartphone.", "Ok", "Gesendet von meinem Samsung"),
        ("Thanks\n\nGet Outlook for Android", "Thanks", "Get Outlook for Android"),
        ("Danke\n-- \nErika Mustermann\nBeispiel GmbH", "Danke", "-- \nErika Mustermann"),
        (
            "Top post.\n\nOn Mon, Mar 3, 2025 at 10:00 AM Support <support@desk.example> wrote:\nUnmarked old text\n"
            "that goes on\n\nand on.",
            "Top post.",
            "On Mon, Mar 3, 2025 at 10:00 AM Support",
        ),
        (
            "Merci.\n\nLe lun. 3 mars 2025 à 10:00, Support <support@desk.example> a écrit :\n> Bonjour",
            "Merci.",
            "Le lun. 3 mars 2025",
        ),
    ],
)
def test_quote_headers_and_signatures(text, visible, quoted_start):
    split = split_reply(text)
    assert split.visible == visible
    assert split.quoted.startswith(quoted_start)


@pytest.mark.parametrize(
    "text",
    [
        "On Monday we deploy, as Bob wrote:\nthe fix is ready.",  # no date: not a quote header
        "Use a--b or a -- b in the command line.",
        "Item list:\n- first\n- second",
        "The total is\n---\n42",  # a rule right under text is not a signature
        "From: the customer's perspective this is broken.\nThanks",
    ],
)
def test_ordinary_text_is_not_split(text):
    split = split_reply(text)
    assert split.visible == text
    assert split.quoted == ""


def test_crlf_and_empty_input():
    assert split_reply("Hi\r\n\r\n> quoted\r\n") == SplitReply(visible="Hi", quoted="> quoted")
    assert split_reply("") == SplitReply(visible="", quoted="")
    assert split_reply("> only a quote") == SplitReply(visible="", quoted="> only a quote")
