"""Celery tasks of the portal's accounts: the account mails leave the request, so answering a sign-up
or a password reset takes the same time whatever the address (no enumeration by timing) and a slow
mail server never holds a page. Thin: they call ``accounts.services``. Queue: outbound."""

from __future__ import annotations

from celery import shared_task


@shared_task(
    name="portal.tasks.send_account_mail_task",
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=30,
    max_retries=5,
)
def send_account_mail_task(template: str, to: str, context: dict, language: str | None = None) -> None:
    from accounts.services import portal_send_mail

    portal_send_mail(template=template, to=to, context=context, language=language)


@shared_task(
    name="portal.tasks.send_password_reset_task",
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=30,
    max_retries=3,
)
def send_password_reset_task(email: str, language: str | None = None) -> int:
    from accounts.services import customer_password_reset_send

    return customer_password_reset_send(email=email, language=language)
