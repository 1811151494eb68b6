"""The customer portal under /portal/, namespace ``portal``. Each area lists its own routes."""

from knowledge.views import portal as knowledge_views
from portal.views import auth, csat, tickets

app_name = "portal"

urlpatterns = [
    *knowledge_views.urlpatterns,
    *auth.urlpatterns,
    *tickets.urlpatterns,
    *csat.urlpatterns,
]
