"""The REST API under /api/v1/: authentication, pagination, errors and the router."""
