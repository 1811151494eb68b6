"""The agent workspace under /desk/, namespace ``desk``. Each area lists its own routes."""

from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import api_tokens, preferences
from accounts import views as account_views
from knowledge.views import desk as knowledge_desk
from tickets.views import bulk, dashboard, queues, search, ticket

app_name = "desk"

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="desk/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    *queues.urlpatterns,
    *ticket.urlpatterns,
    *bulk.urlpatterns,
    *search.urlpatterns,
    *dashboard.urlpatterns,
    *account_views.urlpatterns,
    *preferences.urlpatterns,
    *api_tokens.urlpatterns,
    *knowledge_desk.urlpatterns,
]
