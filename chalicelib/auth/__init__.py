"""Who is calling: app credentials (and, later, clients, tokens and logins)."""
