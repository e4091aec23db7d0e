"""Files attached to a chat: images shown to models that can see, documents read into the prompt."""
