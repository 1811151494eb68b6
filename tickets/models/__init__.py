from tickets.models.config import Macro, SavedView, Tag, TicketType
from tickets.models.messages import Attachment, Message
from tickets.models.sla import SLAPolicy, SLATarget
from tickets.models.tickets import Ticket, TicketCC, TicketEvent, TicketLink

__all__ = [
    "Attachment",
    "Macro",
    "Message",
    "SLAPolicy",
    "SLATarget",
    "SavedView",
    "Tag",
    "Ticket",
    "TicketCC",
    "TicketEvent",
    "TicketLink",
    "TicketType",
]
