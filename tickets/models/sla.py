"""SLA configuration (policies, targets, calendars, selection rules, escalation levels) and the state of
each ticket's SLA clocks, pauses, escalations and the notifications they send.

The arithmetic lives in ``tickets.domain.sla`` and ``tickets.domain.business_time``; the writes in
``tickets.sla``. Nothing here computes anything on save.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.choices import Tier
from tickets.choices import TICKET_CHANNELS, Priority, Status
from tickets.domain import sla as domain


class SLATargetName(models.TextChoices):
    FIRST_RESPONSE = domain.Target.FIRST_RESPONSE.value, _("First response")
    NEXT_RESPONSE = domain.Target.NEXT_RESPONSE.value, _("Next response")
    RESOLUTION = domain.Target.RESOLUTION.value, _("Resolution")


class SLAClockState(models.TextChoices):
    RUNNING = domain.ClockState.RUNNING.value, _("Running")
    PAUSED = domain.ClockState.PAUSED.value, _("Paused")
    MET = domain.ClockState.MET.value, _("Met")
    CANCELLED = domain.ClockState.CANCELLED.value, _("Cancelled")


OPEN_CLOCK_STATE_VALUES = [SLAClockState.RUNNING, SLAClockState.PAUSED]


class SLARuleKind(models.TextChoices):
    CONTRACT = domain.RuleKind.CONTRACT.value, _("Contract of the organization")
    ORGANIZATION = domain.RuleKind.ORGANIZATION.value, _("Policy of the organization")
    TIER = domain.RuleKind.TIER.value, _("Organization tier")
    TICKET_TYPE = domain.RuleKind.TICKET_TYPE.value, _("Ticket type")
    CHANNEL = domain.RuleKind.CHANNEL.value, _("Channel")
    DEFAULT = domain.RuleKind.DEFAULT.value, _("Default policy")


CONFIGURABLE_RULE_KINDS = [(k.value, k.label) for k in (SLARuleKind.TIER, SLARuleKind.TICKET_TYPE, SLARuleKind.CHANNEL)]


class NotificationKind(models.TextChoices):
    SLA_WARNING = "sla_warning", _("SLA warning")
    SLA_BREACH = "sla_breach", _("SLA breached")
    SLA_ESCALATION = "sla_escalation", _("SLA escalation")
    URGENT_TICKET = "urgent_ticket", _("New urgent ticket")
    MENTION = "mention", _("Mentioned in a note")


class EmailStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    SKIPPED = "skipped", _("Skipped (no address)")
    FAILED = "failed", _("Failed")


# --- Calendars ------------------------------------------------------------------------------------


class BusinessCalendar(models.Model):
    """When the desk counts SLA time: weekly hours in a time zone, holidays, or round the clock."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    time_zone = models.CharField(max_length=64, default="Europe/Berlin", help_text=_("IANA name, e.g. Europe/Berlin."))
    always_open = models.BooleanField(
        default=False, help_text=_("24x7: every hour counts, holidays included. Weekly hours are then ignored.")
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Bumped by every change to the calendar, its hours or holidays (tickets.sla.calendar_changed): a
    # process rebuilds its cached calendar when this or updated_at moves.
    revision = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationError(
                {"time_zone": _("Unknown time zone; use an IANA name such as Europe/Berlin.")}
            ) from exc


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class BusinessHours(models.Model):
    """One working-hours range of a weekday; several per day make split shifts."""

    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="hours")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens_at = models.TimeField()
    closes_at = models.TimeField(help_text=_("00:00 means midnight at the end of the day."))

    class Meta:
        ordering = ["calendar", "weekday", "opens_at"]
        verbose_name = "business hours"
        verbose_name_plural = "business hours"

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens_at:%H:%M}-{self.closes_at:%H:%M}"

    @property
    def start_minute(self) -> int:
        return self.opens_at.hour * 60 + self.opens_at.minute

    @property
    def end_minute(self) -> int:
        minute = self.closes_at.hour * 60 + self.closes_at.minute
        return minute or domain.MINUTES_PER_DAY

    def clean(self) -> None:
        if self.opens_at is None or self.closes_at is None:
            return
        if self.opens_at.second or self.closes_at.second:
            raise ValidationError(_("Give whole minutes."))
        if self.end_minute <= self.start_minute:
            raise ValidationError({"closes_at": _("Closing time must be after opening time (00:00 = midnight).")})


class Holiday(models.Model):
    """A day on which the calendar is closed: once, or every year on the same date."""

    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=100, blank=True)
    yearly = models.BooleanField(default=False, help_text=_("Every year on this day and month (e.g. 25 December)."))

    class Meta:
        ordering = ["calendar", "date"]
        constraints = [models.UniqueConstraint(fields=["calendar", "date"], name="holiday_unique_date")]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.name}".strip()


# --- Policies -------------------------------------------------------------------------------------


class SLAPolicy(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    is_default = models.BooleanField(default=False, help_text=_("Applies when no other rule matches (B2C)."))
    calendar = models.ForeignKey(
        BusinessCalendar,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="policies",
        help_text=_("Business hours the targets count in; empty means round the clock (24x7)."),
    )
    warning_percent = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        default=75,
        validators=[MinValueValidator(1), MaxValueValidator(99)],
        help_text=_("Warn at this share of a target when no escalation levels are configured; empty: no warning."),
    )
    notify_account_manager_on_urgent = models.BooleanField(
        default=False,
        help_text=_("Tell the organization's account manager at once about every urgent ticket (strategic accounts)."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Bumped by every change to the policy, its targets or levels (tickets.sla.policy_changed).
    revision = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=models.Q(is_default=True), name="sla_one_default")
        ]

    def __str__(self) -> str:
        return self.name


class SLATarget(models.Model):
    """Targets in business minutes for one priority of a policy; empty means no target."""

    policy = models.ForeignKey(SLAPolicy, on_delete=models.CASCADE, related_name="targets")
    priority = models.CharField(max_length=10, choices=Priority.choices)
    first_response_minutes = models.PositiveIntegerField(null=True, blank=True)
    next_response_minutes = models.PositiveIntegerField(null=True, blank=True)
    resolution_minutes = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["policy", "priority"]
        verbose_name = "SLA target"
        constraints = [models.UniqueConstraint(fields=["policy", "priority"], name="sla_target_unique_priority")]

    def __str__(self) -> str:
        return f"{self.policy}: {self.get_priority_display()}"


class SLAPolicyRule(models.Model):
    """Which policy a ticket gets by its organization's tier, its type or its channel.

    Tried after the organization's contracts and its own policy, before the default policy: all tier
    rules first, then type rules, then channel rules, each kind in ``position`` order.
    """

    position = models.PositiveIntegerField(default=0)
    policy = models.ForeignKey(SLAPolicy, on_delete=models.CASCADE, related_name="rules")
    kind = models.CharField(max_length=20, choices=CONFIGURABLE_RULE_KINDS)
    tier = models.CharField(max_length=20, choices=Tier.choices, blank=True)
    ticket_type = models.ForeignKey(
        "tickets.TicketType", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    channel = models.CharField(max_length=10, choices=TICKET_CHANNELS, blank=True)

    class Meta:
        ordering = ["kind", "position", "id"]
        verbose_name = "SLA policy rule"
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(kind=SLARuleKind.TIER, ticket_type__isnull=True, channel="") & ~models.Q(tier=""))
                | models.Q(kind=SLARuleKind.TICKET_TYPE, ticket_type__isnull=False, tier="", channel="")
                | (models.Q(kind=SLARuleKind.CHANNEL, ticket_type__isnull=True, tier="") & ~models.Q(channel="")),
                name="sla_rule_matches_its_kind",
            )
        ]

    def __str__(self) -> str:
        value = {
            SLARuleKind.TIER: self.get_tier_display(),
            SLARuleKind.TICKET_TYPE: str(self.ticket_type or ""),
            SLARuleKind.CHANNEL: self.get_channel_display(),
        }.get(self.kind, "")
        return f"{self.get_kind_display()} {value} -> {self.policy}"

    def clean(self) -> None:
        wanted = {SLARuleKind.TIER: "tier", SLARuleKind.TICKET_TYPE: "ticket_type", SLARuleKind.CHANNEL: "channel"}
        values = {"tier": self.tier, "ticket_type": self.ticket_type_id, "channel": self.channel}
        name = wanted.get(self.kind)  # type: ignore[call-overload]
        if name is None:
            return
        if not values[name]:
            raise ValidationError({name: _("A rule of this kind needs this value.")})
        extra = [other for other, value in values.items() if other != name and value]
        if extra:
            raise ValidationError({extra[0]: _("Leave this empty for a rule of this kind.")})


class EscalationLevel(models.Model):
    """What happens when a clock reaches a share of its target: 75 % warns, 100 % is the breach, 150 % ...

    A policy without levels for a target warns the assignee at its warning share and tells the
    assignee and the team lead on breach. With levels, exactly the configured ones apply (the breach
    is always recorded on the ticket, with or without a level at 100 %).
    """

    policy = models.ForeignKey(SLAPolicy, on_delete=models.CASCADE, related_name="escalation_levels")
    target = models.CharField(
        max_length=20, choices=SLATargetName.choices, blank=True, help_text=_("Empty: every target of the policy.")
    )
    percent = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(1000)], help_text=_("Share of the target, e.g. 75 or 150.")
    )
    notify_assignee = models.BooleanField(default=True, help_text=_("The team lead when nobody is assigned."))
    notify_team_lead = models.BooleanField(default=False)
    notify_account_manager = models.BooleanField(default=False, help_text=_("B2B: the organization's manager."))
    raise_priority = models.BooleanField(default=False, help_text=_("One step up, up to urgent."))
    move_to_team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    add_note = models.BooleanField(default=False, help_text=_("Add an internal note to the ticket."))
    note_text = models.TextField(blank=True, help_text=_("Empty: a note that says which target escalated."))

    class Meta:
        ordering = ["policy", "target", "percent"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "target", "percent"], name="sla_level_unique_percent"),
        ]

    def __str__(self) -> str:
        return f"{self.policy}: {self.get_target_display() or _('every target')} at {self.percent} %"


# --- Ticket state -------------------------------------------------------------------------------


class TicketSLAClock(models.Model):
    """One measured target of a ticket. ``cycle`` counts restarts: each customer message after an answer
    starts a new next-response cycle, each reopening a new resolution cycle; the highest is current.

    ``policy_name``, ``rule_*``, ``calendar_name`` and ``time_zone`` record how the due date came about,
    for the explanation on the ticket.
    """

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="sla_clocks", db_index=False)
    target = models.CharField(max_length=20, choices=SLATargetName.choices)
    cycle = models.PositiveIntegerField(default=1)
    state = models.CharField(max_length=10, choices=SLAClockState.choices, default=SLAClockState.RUNNING)
    policy = models.ForeignKey(SLAPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    policy_name = models.CharField(max_length=100, blank=True)
    rule_kind = models.CharField(max_length=20, choices=SLARuleKind.choices, blank=True)
    rule_detail = models.CharField(max_length=200, blank=True)
    calendar_name = models.CharField(max_length=100, blank=True)
    time_zone = models.CharField(max_length=64, blank=True)
    priority = models.CharField(max_length=10, choices=Priority.choices)
    target_minutes = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    due_at = models.DateTimeField(null=True, blank=True, help_text=_("Empty while paused before the due moment."))
    remaining_seconds = models.PositiveIntegerField(null=True, blank=True, help_text=_("Business time left, paused."))
    met_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True, help_text=_("The moment the target was missed."))
    stopped_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["ticket", "target", "cycle"]
        verbose_name = "SLA clock"
        constraints = [
            models.UniqueConstraint(fields=["ticket", "target", "cycle"], name="sla_clock_unique_cycle"),
        ]
        indexes = [
            # Recomputation after a policy or calendar change: the open clocks of a policy.
            models.Index(
                fields=["policy", "ticket"],
                name="sla_clock_open_policy",
                condition=models.Q(state__in=OPEN_CLOCK_STATE_VALUES),
            ),
            # Compliance reports: decided clocks by the moment they were decided.
            models.Index(fields=["met_at"], name="sla_clock_met", condition=models.Q(met_at__isnull=False)),
            models.Index(
                fields=["breached_at"], name="sla_clock_breached", condition=models.Q(breached_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.target} #{self.cycle} {self.state}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_CLOCK_STATE_VALUES


class SLAPause(models.Model):
    """A stretch in which a ticket waited on the customer or was on hold: its SLA clocks did not count."""

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="sla_pauses", db_index=False)
    status = models.CharField(max_length=10, choices=Status.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["ticket", "started_at", "id"]
        verbose_name = "SLA pause"
        indexes = [models.Index(fields=["ticket", "started_at"], name="sla_pause_ticket")]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket"], condition=models.Q(ended_at__isnull=True), name="sla_pause_one_open"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.status} {self.started_at:%Y-%m-%d %H:%M}"


class SLAEscalation(models.Model):
    """A moment at which a clock reaches a share of its target, and whether it has fired.

    Pending rows are recomputed whenever the clock changes; the sweeper fires due ones in due order.
    The unique (clock, percent) is what makes each (ticket, target, cycle, level) fire exactly once:
    a fired row is never deleted or recreated, and firing marks it in the same transaction as its effects.
    """

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="sla_escalations")
    clock = models.ForeignKey(TicketSLAClock, on_delete=models.CASCADE, related_name="escalations", db_index=False)
    target = models.CharField(max_length=20, choices=SLATargetName.choices)
    percent = models.PositiveSmallIntegerField()
    due_at = models.DateTimeField()
    fired_at = models.DateTimeField(null=True, blank=True)
    # What firing did (notified users, actions) or why it did nothing; errors of actions that failed.
    outcome = models.TextField(blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        verbose_name = "SLA escalation"
        constraints = [models.UniqueConstraint(fields=["clock", "percent"], name="sla_escalation_once")]
        indexes = [
            # The sweeper: due_at <= now AND fired_at IS NULL, in due order. Only pending rows are in it.
            models.Index(fields=["due_at", "id"], name="sla_escalation_pending", condition=models.Q(fired_at=None)),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.target} {self.percent} %"

    @property
    def kind(self) -> domain.EscalationKind:
        return domain.escalation_kind(self.percent)


class Notification(models.Model):
    """A message to an agent, shown in the workspace and sent by email once.

    Unique per (escalation, recipient), and per (ticket, recipient) for urgent-ticket notices, so a
    sweep or an event delivered twice never notifies twice.
    """

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="notifications")
    # DO_NOTHING lets pending escalations be replaced with one plain DELETE (no cascade collection):
    # only unfired rows are ever deleted, and only fired rows have notifications. Deleting a ticket
    # deletes both through their ticket foreign keys.
    escalation = models.ForeignKey(
        SLAEscalation, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="notifications", db_index=False
    )
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    # The note that mentioned the recipient (mentions only): one notification per note and person.
    message = models.ForeignKey(
        "tickets.Message", null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    title = models.CharField(max_length=255)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)
    email_status = models.CharField(max_length=10, choices=EmailStatus.choices, default=EmailStatus.PENDING)
    email_sent_at = models.DateTimeField(null=True, blank=True)
    email_attempts = models.PositiveSmallIntegerField(default=0)
    email_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["escalation", "recipient"],
                condition=models.Q(escalation__isnull=False),
                name="notification_once_per_escalation",
            ),
            models.UniqueConstraint(
                fields=["ticket", "recipient", "kind"],
                condition=models.Q(kind="urgent_ticket"),
                name="notification_once_per_urgent_ticket",
            ),
            models.UniqueConstraint(
                fields=["message", "recipient"],
                condition=models.Q(message__isnull=False),
                name="notification_once_per_mention",
            ),
        ]
        indexes = [
            models.Index(fields=["recipient", "-created_at", "-id"], name="notification_recipient"),
            models.Index(fields=["id"], name="notification_email_pending", condition=models.Q(email_status="pending")),
        ]

    def __str__(self) -> str:
        return self.title
