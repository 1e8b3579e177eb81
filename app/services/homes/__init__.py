"""Each persona's home panel: one module a role, each a ``panel(person, today)`` that reads what the panel shows
with a fixed number of statements, through the same services as the detail pages."""
