"""A CalDAV calendar collection, over plain HTTP (urllib3), read through the local
provider's iCalendar code (providers/local/ics.py).

Importing this package loads nothing: `calendar` holds the provider."""
