"""Outlook calendars and mail through Microsoft Graph, with MSAL and requests (the
`outlook` extra).

Importing this package loads nothing of Microsoft's: `plugin` is what the registry
asks for, and `account` (the libraries) loads when an account is opened or connected."""
