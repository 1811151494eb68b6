from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject, lazy

from service_desk.branding import brand


def desk(request: HttpRequest) -> dict[str, object]:
    """What every page's frame shows: the desk's brand (``brand``) and its name (``desk_name``).

    Both are lazy and read once per render: a page that shows neither costs nothing, one that does
    costs one cache read (one query when the cache is cold; see ``service_desk.branding``).
    """
    current = SimpleLazyObject(brand)
    return {"brand": current, "desk_name": lazy(lambda: current.name, str)()}
