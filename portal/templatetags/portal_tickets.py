"""``{{ attachment.filename|portal_file_name }}``: a file's name as the portal shows and serves it.

Names are cleaned when files are stored (``tickets.domain.files.safe_filename``); cleaning them again
on the way out keeps a row written another way (an import, an older version) from showing a bidi
override, a control character or a path.
"""

from __future__ import annotations

from django import template

from tickets.domain.files import safe_filename

register = template.Library()


@register.filter
def portal_file_name(value: object) -> str:
    return safe_filename(str(value or ""))
