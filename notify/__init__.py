"""Delivery channels: console, JSON Lines, webhooks (generic, WeCom, DingTalk), SMTP; their
settings (``notify.toml``); and the message an outbox row becomes.  Knows nothing of the store."""

__all__: list[str] = []
