"""BorgOS webhooks (Standard Webhooks). The core (signing, matching, targets, retry, github, inbound,
models) is stdlib and pydantic only; `service` (outbound webhooks as stored objects, the deliveries
the stream enqueues) and `incoming` (GitHub hooks, triggers, replay guard) use the store. The HTTP
delivery itself lives in workers.webhook_delivery and runs on RQ workers (workers.webhook_jobs)."""
