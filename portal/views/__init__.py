"""The customer portal under /portal/: one module per area, each listing its own routes."""
