"""The browser console (operators) and the share portal (read-only pages behind a portal token)."""
