"""Admin for reminders: deliveries and the user's own follow-ups."""
