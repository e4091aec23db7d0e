"""The model gateway: every model call, metered, through LiteLLM or the fast relay."""
