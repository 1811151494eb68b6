from django.conf import settings
from django.http import HttpRequest


def desk(request: HttpRequest) -> dict[str, object]:
    """What every page's frame shows: the desk's name."""
    return {"desk_name": settings.SERVICE_DESK_NAME}
