from django.urls import path

from channels_intake import web

app_name = "intake"

urlpatterns = [
    path("support/new/", web.web_ticket_form, name="web_form"),
    path("intake/mailboxes/<int:mailbox_id>/raw/", web.raw_mail_endpoint, name="raw_mail"),
]
