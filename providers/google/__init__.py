"""Google Calendar and Gmail, through google-api-python-client (the `google` extra).

Importing this package loads nothing of Google's: `plugin` is what the registry asks
for, and `account` (the libraries) loads when an account is opened or connected."""
