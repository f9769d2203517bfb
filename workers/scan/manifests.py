"""What manifests say: the stack (languages, frameworks, services) and the dependencies, each
dependency with whether its version is pinned exactly. A manifest that does not parse yields a
finding instead (type "manifest", with the parser's line when it gives one)."""

from __future__ import annotations

import json
import re
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import yaml

from workers.scan.findings import Finding

# Dependency names (lowercased) that reveal a framework or a service.
FRAMEWORKS = {
    "django": "django", "flask": "flask", "fastapi": "fastapi", "starlette": "starlette", "celery": "celery",
    "tornado": "tornado", "aiohttp": "aiohttp", "sqlalchemy": "sqlalchemy",
    "react": "react", "vue": "vue", "@angular/core": "angular", "svelte": "svelte", "next": "nextjs",
    "nuxt": "nuxt", "express": "express", "@nestjs/core": "nestjs", "koa": "koa", "fastify": "fastify",
    "typescript": "typescript",
    "github.com/gin-gonic/gin": "gin", "github.com/labstack/echo/v4": "echo",
    "github.com/gofiber/fiber/v2": "fiber", "actix-web": "actix-web", "axum": "axum", "rocket": "rocket",
    "tokio": "tokio", "rails": "rails", "sinatra": "sinatra", "spring-boot-starter-web": "spring-boot",
    "spring-boot-starter": "spring-boot",
}  # fmt: skip
SERVICES = {
    "psycopg2": "postgresql", "psycopg2-binary": "postgresql", "psycopg": "postgresql",
    "asyncpg": "postgresql",
    "pg": "postgresql", "github.com/lib/pq": "postgresql", "github.com/jackc/pgx/v5": "postgresql",
    "redis": "redis", "ioredis": "redis", "github.com/redis/go-redis/v9": "redis", "pymongo": "mongodb",
    "mongoose": "mongodb", "motor": "mongodb", "mysqlclient": "mysql", "pymysql": "mysql", "mysql2": "mysql",
    "pika": "rabbitmq", "amqplib": "rabbitmq", "elasticsearch": "elasticsearch",
}  # fmt: skip
# Images in compose files, by the repository part before any tag.
IMAGES = {
    "postgres": "postgresql", "postgis/postgis": "postgresql", "redis": "redis", "mysql": "mysql",
    "mariadb": "mysql", "mongo": "mongodb", "rabbitmq": "rabbitmq", "elasticsearch": "elasticsearch",
    "nginx": "nginx", "memcached": "memcached", "minio/minio": "minio", "kafka": "kafka",
    "bitnami/kafka": "kafka", "confluentinc/cp-kafka": "kafka",
}  # fmt: skip
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.yaml", "compose.yml", "compose.yaml")
LOCKFILES = (
    "poetry.lock", "Pipfile.lock", "uv.lock", "pdm.lock", "package-lock.json", "yarn.lock", "pnpm-lock.yaml",
    "bun.lockb", "go.sum", "Cargo.lock", "Gemfile.lock", "composer.lock",
)  # fmt: skip
MANIFESTS = (
    "pyproject.toml", "package.json", "go.mod", "Cargo.toml", "Gemfile", "pom.xml", "Pipfile", "setup.py",
)  # fmt: skip

_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)$")
_EXACT_NPM = re.compile(r"^\d+\.\d+\.\d+([-+][\w.]+)?$")


@dataclass
class Manifest:
    stack: list[str] = field(default_factory=list)
    dependencies: list[tuple[str, bool]] = field(default_factory=list)  # (name, pinned)
    findings: list[Finding] = field(default_factory=list)

    def facts(self) -> dict[str, Any]:
        return {"stack": self.stack, "deps": [[n, p] for n, p in self.dependencies]}


def is_manifest(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return (
        name in MANIFESTS
        or name in COMPOSE_FILES
        or (name.startswith("requirements") and name.endswith(".txt"))
        or name == "Dockerfile"
    )


def read_manifest(rel: str, text: str) -> Manifest:
    name = rel.rsplit("/", 1)[-1]
    found = Manifest()
    try:
        if name.startswith("requirements") and name.endswith(".txt"):
            _requirements(text, found)
        elif name == "pyproject.toml":
            _pyproject(tomllib.loads(text), found)
        elif name == "Pipfile":
            _pipfile(tomllib.loads(text), found)
        elif name == "setup.py":
            found.stack.append("python")
        elif name == "package.json":
            _package_json(json.loads(text), found)
        elif name == "go.mod":
            _go_mod(text, found)
        elif name == "Cargo.toml":
            _cargo(tomllib.loads(text), found)
        elif name == "Gemfile":
            _gemfile(text, found)
        elif name == "pom.xml":
            _pom(ET.fromstring(text), found)
        elif name in COMPOSE_FILES:
            _compose(yaml.load(text, Loader=_LOADER), found)
        elif name == "Dockerfile":
            found.stack.append("docker")
    except (ValueError, ET.ParseError, yaml.YAMLError, AttributeError, TypeError):
        pass  # the syntax finders report the broken file itself (findings.py)
    for dep, _ in found.dependencies:
        key = dep.lower()
        for table in (FRAMEWORKS, SERVICES):
            if key in table and table[key] not in found.stack:
                found.stack.append(table[key])
    return found


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _requirement(line: str, found: Manifest) -> None:
    line = line.split(" #", 1)[0].strip()
    if not line or line.startswith(("#", "-", "git+", "http:", "https:")):
        return
    match = _REQ_NAME.match(line.split(";", 1)[0])
    if match:
        spec = match.group(3).strip()
        found.dependencies.append((match.group(1), spec.startswith("==") and "*" not in spec))


def _requirements(text: str, found: Manifest) -> None:
    found.stack.append("python")
    for line in text.splitlines():
        _requirement(line, found)


def _pyproject(data: dict[str, Any], found: Manifest) -> None:
    found.stack.append("python")
    for dep in (data.get("project") or {}).get("dependencies") or []:
        _requirement(str(dep), found)
    poetry = ((data.get("tool") or {}).get("poetry") or {}).get("dependencies") or {}
    for dep_name, spec in poetry.items():
        if dep_name.lower() != "python":
            version = spec if isinstance(spec, str) else (spec or {}).get("version", "")
            found.dependencies.append((dep_name, bool(re.fullmatch(r"=?=?\d[\w.]*", str(version)))))


def _pipfile(data: dict[str, Any], found: Manifest) -> None:
    found.stack.append("python")
    for dep_name, spec in (data.get("packages") or {}).items():
        found.dependencies.append((dep_name, isinstance(spec, str) and spec.startswith("==")))


def _package_json(data: dict[str, Any], found: Manifest) -> None:
    found.stack.append("javascript")
    for section in ("dependencies", "devDependencies"):
        for dep_name, spec in (data.get(section) or {}).items():
            found.dependencies.append((dep_name, bool(_EXACT_NPM.match(str(spec)))))


def _go_mod(text: str, found: Manifest) -> None:
    found.stack.append("go")
    block = False
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if line.startswith("require ("):
            block = True
        elif block and line == ")":
            block = False
        elif block and line:
            found.dependencies.append((line.split()[0], True))  # go.mod versions are exact
        elif line.startswith("require "):
            found.dependencies.append((line.split()[1], True))


def _cargo(data: dict[str, Any], found: Manifest) -> None:
    found.stack.append("rust")
    for dep_name, spec in (data.get("dependencies") or {}).items():
        version = spec if isinstance(spec, str) else (spec or {}).get("version", "")
        found.dependencies.append((dep_name, str(version).startswith("=")))


def _gemfile(text: str, found: Manifest) -> None:
    found.stack.append("ruby")
    for line in text.splitlines():
        match = re.match(r"""\s*gem\s+['"]([^'"]+)['"]\s*(?:,\s*['"]([^'"]+)['"])?""", line)
        if match:
            version = match.group(2) or ""
            found.dependencies.append((match.group(1), bool(re.fullmatch(r"=?\s*\d[\w.]*", version))))


def _pom(root: ET.Element, found: Manifest) -> None:
    found.stack.append("java")
    for dep in root.iter():
        if dep.tag.rsplit("}", 1)[-1] != "dependency":
            continue
        fields = {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in dep}
        if fields.get("artifactId"):
            version = fields.get("version", "")
            found.dependencies.append((fields["artifactId"], bool(version) and not version.startswith("[")))


def _compose(data: Any, found: Manifest) -> None:
    found.stack.append("docker")
    for service in ((data or {}).get("services") or {}).values():
        image = str((service or {}).get("image") or "")
        repository = image.split("@", 1)[0].rsplit(":", 1)[0] if image else ""
        repository = repository.removeprefix("docker.io/").removeprefix("library/")
        name = IMAGES.get(repository) or IMAGES.get(repository.rsplit("/", 1)[-1])
        if name and name not in found.stack:
            found.stack.append(name)
