"""The card gateway's domain: card numbers, cards this bank issues, merchants and payments."""
