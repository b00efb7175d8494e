"""Everything that talks to a calendar or a mailbox."""
