"""The key plan of the single table. Everything a tenant owns lives under its partition `T#<tenant>`,
so a Query can never cross tenants by accident.

| item                  | PK              | SK                      |
| tenant meta           | T#<tenant>      | #META                   | id counters, event seq, revision
| collection header     | T#<tenant>      | <KIND>#  (or <KIND>#~)  | counts (read with a list's first page)
| entity                | T#<tenant>      | <KIND>#<id:012d>        |
| error event           | T#<tenant>      | ERROR#<time>#<id:012d>  | newest first, TTL
| event log             | T#<tenant>      | EVENT#<seq:015d>        | TTL; replay and fan-out
| idempotency record    | T#<tenant>      | IDEM#<Idempotency-Key>  | TTL; a POST's claim and answer
| API token             | TOKEN#<sha256>  | TOKEN                   | the lookup item for authentication
| rate-limit state      | RL#<subject>    | RL                      | TTL

A collection's header sorts before its items when the list runs oldest first (`PROJECT#` <
`PROJECT#000000000001`) and after them when it runs newest first (`ERROR#~` > `ERROR#2024-...`),
so the first page of a list and its total come back from one Query.
"""

from __future__ import annotations

META_SK = "#META"


def tenant_pk(tenant: str) -> str:
    return f"T#{tenant}"


def tenant_index_pk(tenant: str, *facet: object) -> str:
    """Partition key of a GSI listing inside one tenant, e.g. `T#acme#PROJECT#active`."""
    return "#".join([f"T#{tenant}", *(str(part) for part in facet)])


def entity_sk(kind: str, ident: int) -> str:
    return f"{kind}#{ident:012d}"


def header_sk(kind: str, newest_first: bool = False) -> str:
    return f"{kind}#~" if newest_first else f"{kind}#"


def event_sk(seq: int) -> str:
    return f"EVENT#{seq:015d}"


def idempotency_sk(key: str) -> str:
    """A tenant's record of one Idempotency-Key (the key is validated printable ASCII)."""
    return f"IDEM#{key}"


def token_pk(token_hash: str) -> str:
    return f"TOKEN#{token_hash}"


TOKEN_SK = "TOKEN"


def rate_limit_pk(subject: str) -> str:
    return f"RL#{subject}"


RATE_LIMIT_SK = "RL"


def github_hook_pk(project_id: int) -> str:
    """A project's GitHub push hook, one item per tenant (SK `tenant_pk`): a push names only the
    project id, and the hook's secret decides which tenant's project it is."""
    return f"GHHOOK#{project_id}"
