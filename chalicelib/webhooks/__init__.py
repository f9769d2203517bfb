"""Store-agnostic core of BorgOS webhooks (Standard Webhooks): signing, event matching, target checks,
retry policy, GitHub inbound hooks and the models at the API edge. Stdlib and pydantic only, so the
Lambda can import it; the HTTP delivery itself lives in workers.webhook_delivery."""
