"""Split a plain-text reply into the new text and the quoted history / signature.

The model is the one of GitHub's email_reply_parser: the visible part is everything up to the last
line of new text; the quoted part is the trailing block of quotes ("> "), quote headers
("On ... wrote:", "Am ... schrieb ...:"), Outlook header blocks, signatures and blank lines. Text the
sender wrote between quotes (an inline reply) stays visible, so ``visible`` + ``quoted`` lose nothing.

A "hard" separator cuts everything after it into the quoted part, whatever follows: an Outlook
"-----Original Message-----" line or "From:/Sent:" block, a signature delimiter ("-- "), a mobile
signature ("Sent from my iPhone"), a long underscore line, or a quote header followed by text that is
not marked with ">" (clients that quote without markers).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

__all__ = ["SplitReply", "split_reply"]


@dataclass(frozen=True)
class SplitReply:
    visible: str
    quoted: str


class _Kind(enum.Enum):
    TEXT = "text"
    BLANK = "blank"
    QUOTED = "quoted"
    HEADER = "header"  # quote header introducing a ">" block: trailing only if the block is
    SIGN_OFF = "sign_off"  # "-Name" after a blank line: hidden only when nothing new follows
    HARD = "hard"  # everything from here on is quoted


_MAX_HEADER_CHARS = 500
_HEADER_LINES = 3
_QUOTED = re.compile(r"[ \t]*>")
_HEADER_START = re.compile(r"(?:On|Am|Le|Op|El)\s", re.IGNORECASE)
_QUOTE_HEADER = re.compile(
    r"""(?:On|Am|Le|Op|El)\s(?=.*\d).{0,400}?
        \b(?:wrote|schrieb|a\s+écrit|schreef|escribió)\b[^:\n]{0,200}:\s*
      | .{0,300}<[^<>\s]+@[^<>\s]+>\s*(?:wrote|schrieb|a\s+écrit|schreef|escribió)\s*:\s*""",
    re.IGNORECASE | re.VERBOSE,
)
_ORIGINAL_MESSAGE = re.compile(
    r"[ \t]*-{2,}[ \t]*(?:Original Message|Ursprüngliche Nachricht|Originalnachricht|Message d'origine"
    r"|Mensaje original|Messaggio originale|Oorspronkelijk bericht)[ \t]*-{2,}[ \t]*",
    re.IGNORECASE,
)
_OUTLOOK_FROM = re.compile(r"[ \t]*\*?(?:From|Von|De|Van|Da)\s*:\*?[ \t]*\S", re.IGNORECASE)
_OUTLOOK_SENT = re.compile(
    r"[ \t]*\*?(?:Sent|Date|Gesendet|Datum|Envoyé|Verzonden|Enviado|Inviato|Fecha)\s*:", re.IGNORECASE
)
_OUTLOOK_BLOCK_LINES = 4
_SIGNATURE_DELIMITER = re.compile(r"--[ \t]?")
_RULE = re.compile(r"[ \t]*(?:-{3,}|_{8,})[ \t]*")
_UNDERSCORE_RULE = re.compile(r"[ \t]*_{8,}[ \t]*")
_WORDS = r"[\w®'’&-]+(?:[ \t]+[\w®'’&-]+)"
_MOBILE_SIGNATURE = re.compile(
    rf"""[ \t]*(?:
        Sent\ from\ my[ \t]+{_WORDS}{{0,2}}
      | Sent\ from\ (?:Outlook|Mail\ for\ Windows(?:\ 1[01])?|Yahoo\ Mail{_WORDS}{{0,4}}|ProtonMail|Proton\ Mail)
      | Get\ Outlook\ for\ (?:iOS|Android)
      | Von\ meinem[ \t]+{_WORDS}{{0,3}}[ \t]+gesendet
      | Gesendet\ (?:von|mit)\ meinem[ \t]+{_WORDS}{{0,3}}
      | Von\ Outlook\ für\ (?:iOS|Android)\ gesendet
      | Envoyé\ de\ mon[ \t]+{_WORDS}{{0,2}}
      | Enviado\ desde\ mi[ \t]+{_WORDS}{{0,2}}
    )[ \t]*[.!]?[ \t]*""",
    re.IGNORECASE | re.VERBOSE,
)
_SIGN_OFF = re.compile(r"-[^\W\d_][\w.'’-]*(?:[ \t]+[\w.'’-]+){0,2}[ \t]*")
_MAX_SIGN_OFF_CHARS = 40
_TRAILING_KINDS = frozenset({_Kind.BLANK, _Kind.QUOTED, _Kind.HEADER, _Kind.SIGN_OFF})


def _is_blank(line: str) -> bool:
    return not line.strip()


def _header_end(lines: list[str], start: int) -> int | None:
    """Index of the last line of a quote header starting at ``start`` (it may wrap), or None."""
    line = lines[start]
    if len(line) <= _MAX_HEADER_CHARS and _QUOTE_HEADER.fullmatch(line.strip()):
        return start
    if not _HEADER_START.match(line.lstrip()):
        return None
    joined = line.strip()
    for index in range(start + 1, min(start + _HEADER_LINES, len(lines))):
        following = lines[index]
        if _is_blank(following) or _QUOTED.match(following):
            return None
        joined = f"{joined} {following.strip()}"
        if len(joined) > _MAX_HEADER_CHARS:
            return None
        if _QUOTE_HEADER.fullmatch(joined):
            return index
    return None


def _next_content_is_quoted(lines: list[str], after: int) -> bool:
    for line in lines[after + 1 :]:
        if not _is_blank(line):
            return bool(_QUOTED.match(line))
    return True


def _is_outlook_block(lines: list[str], start: int) -> bool:
    if not _OUTLOOK_FROM.match(lines[start]):
        return False
    following = lines[start + 1 : start + 1 + _OUTLOOK_BLOCK_LINES]
    return any(_OUTLOOK_SENT.match(line) for line in following)


def _is_hard_separator(lines: list[str], index: int) -> bool:
    line = lines[index]
    if _SIGNATURE_DELIMITER.fullmatch(line) or _UNDERSCORE_RULE.fullmatch(line):
        return True
    if _RULE.fullmatch(line) and (index == 0 or _is_blank(lines[index - 1])):
        return True
    if _ORIGINAL_MESSAGE.fullmatch(line) or _MOBILE_SIGNATURE.fullmatch(line):
        return True
    return _is_outlook_block(lines, index)


def _is_sign_off(lines: list[str], index: int) -> bool:
    line = lines[index].strip()
    preceded_by_blank = index == 0 or _is_blank(lines[index - 1])
    return preceded_by_blank and len(line) <= _MAX_SIGN_OFF_CHARS and bool(_SIGN_OFF.fullmatch(line))


def _classify(lines: list[str]) -> list[_Kind]:
    """Kind of every line up to (and including) the first hard separator."""
    kinds: list[_Kind] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if _is_blank(line):
            kinds.append(_Kind.BLANK)
        elif _QUOTED.match(line):
            kinds.append(_Kind.QUOTED)
        elif (end := _header_end(lines, index)) is not None:
            if not _next_content_is_quoted(lines, end):
                kinds.append(_Kind.HARD)
                return kinds
            kinds.extend([_Kind.HEADER] * (end - index + 1))
            index = end
        elif _is_hard_separator(lines, index):
            kinds.append(_Kind.HARD)
            return kinds
        elif _is_sign_off(lines, index):
            kinds.append(_Kind.SIGN_OFF)
        else:
            kinds.append(_Kind.TEXT)
        index += 1
    return kinds


def split_reply(text: str) -> SplitReply:
    """Split ``text`` into the new part the agent sees first and the quoted history / signature."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kinds = _classify(lines)
    cut = len(kinds) - 1 if kinds and kinds[-1] is _Kind.HARD else len(kinds)
    while cut > 0 and kinds[cut - 1] in _TRAILING_KINDS:
        cut -= 1
    visible = "\n".join(lines[:cut]).rstrip()
    quoted = "\n".join(lines[cut:]).strip("\n").rstrip()
    if not visible.strip():
        visible = ""
    return SplitReply(visible=visible, quoted=quoted)
