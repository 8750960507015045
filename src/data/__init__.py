"""privhealth."""
