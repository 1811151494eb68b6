from tickets.models.bulk import BulkAction, BulkJob, BulkJobState
from tickets.models.config import Macro, SavedView, Tag, TicketType
from tickets.models.csat import SatisfactionSurvey
from tickets.models.messages import Attachment, Message
from tickets.models.sla import (
    BusinessCalendar,
    BusinessHours,
    EscalationLevel,
    Holiday,
    Notification,
    SLAEscalation,
    SLAPause,
    SLAPolicy,
    SLAPolicyRule,
    SLATarget,
    TicketSLAClock,
)
from tickets.models.tickets import Ticket, TicketCC, TicketEvent, TicketLink

__all__ = [
    "Attachment",
    "BulkAction",
    "BulkJob",
    "BulkJobState",
    "BusinessCalendar",
    "BusinessHours",
    "EscalationLevel",
    "Holiday",
    "Macro",
    "Message",
    "Notification",
    "SLAEscalation",
    "SLAPause",
    "SLAPolicy",
    "SLAPolicyRule",
    "SLATarget",
    "SatisfactionSurvey",
    "SavedView",
    "Tag",
    "Ticket",
    "TicketCC",
    "TicketEvent",
    "TicketLink",
    "TicketSLAClock",
    "TicketType",
]
