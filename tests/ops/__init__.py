"""Operations: shutdown, several workers, logs, webhooks, tracing."""
