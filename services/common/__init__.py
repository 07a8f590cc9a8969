"""Runtime shared by every service. Nothing here knows a business concept."""
