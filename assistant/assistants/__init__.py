"""The assistants product: assistants, skills, secrets, sharing, drafts, memories."""
