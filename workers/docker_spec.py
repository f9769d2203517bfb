"""What a deployment's container looks like, independent of how it gets built or rolled out."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.limits import parse_cpu, parse_memory

LABEL_MANAGED = "borgos.managed"
LABEL_TENANT = "borgos.tenant"
LABEL_DEPLOYMENT = "borgos.deployment"
LABEL_REVISION = "borgos.revision"
LABEL_HOST = "borgos.host"
LABEL_PORT = "borgos.port"
LABEL_HEALTH_PATH = "borgos.health_path"

RestartPolicy = Literal["no", "on-failure", "unless-stopped", "always"]


class ContainerSpec(BaseModel):
    """One revision of one deployment. `name` is the base name: the engine appends a short unique
    suffix so a candidate can run next to the container it replaces."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,100}$")
    image: str = Field(min_length=1)
    tenant: str
    deployment_id: int = Field(ge=1)
    revision: int = Field(ge=1)
    host: str = ""  # the worker host owning it; several hosts may share one engine
    host_port: int = Field(ge=1024, le=65535)
    container_port: int = Field(default=8080, ge=1, le=65535)
    environment: dict[str, str] = Field(default_factory=dict)
    nano_cpus: int | None = Field(default=None, ge=1)
    mem_limit: int | None = Field(default=None, ge=1)
    restart_policy: RestartPolicy = "unless-stopped"
    init: bool = True
    health_path: str | None = None  # None: a TCP check on the port
    command: list[str] | None = None

    @classmethod
    def with_limits(
        cls, *, cpu_limit: str | None = None, memory_limit: str | None = None, **fields: object
    ) -> ContainerSpec:
        """Build a spec from the API's limit strings ("0.5", "512m"); LimitError when out of bounds."""
        return cls.model_validate(
            {
                **fields,
                "nano_cpus": parse_cpu(cpu_limit) if cpu_limit else None,
                "mem_limit": parse_memory(memory_limit) if memory_limit else None,
            }
        )

    @property
    def labels(self) -> dict[str, str]:
        labels = {
            LABEL_MANAGED: "1",
            LABEL_TENANT: self.tenant,
            LABEL_DEPLOYMENT: str(self.deployment_id),
            LABEL_REVISION: str(self.revision),
            LABEL_PORT: str(self.host_port),
        }
        if self.host:
            labels[LABEL_HOST] = self.host
        if self.health_path:
            labels[LABEL_HEALTH_PATH] = self.health_path
        return labels
