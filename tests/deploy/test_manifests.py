"""The deployment descriptions (deploy/compose.yaml, deploy/k8s/, deploy/Dockerfile) cannot
be started here; these checks catch what would break them: a NEONBLUE_* variable no
setting reads (or a value it cannot parse), an unpinned image, a service without a health
check, a stateful service without a volume."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SETTINGS_MODULES = ("agents.common.llm", "agents.intelligence.configuration")
PINNED = re.compile(r"^[\w.\-/]+(:(?!latest$)[\w.\-]*\d+\.\d+[\w.\-]*)?(@sha256:[0-9a-f]{64})?$")
STATEFUL = ("kafka", "postgres", "clickhouse", "chroma")


def settings_classes() -> list[type[BaseSettings]]:
    import infrastructure.settings as package

    modules = [f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)]
    for module in (*modules, *SETTINGS_MODULES):
        importlib.import_module(module)
    found, stack = [], list(BaseSettings.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in ("infrastructure", "agents"):
            found.append(cls)
    return found


def variables() -> dict[str, type[BaseSettings]]:
    """Every NEONBLUE_* variable a settings class reads, with its class."""
    names = {}
    for cls in settings_classes():
        prefix = cls.model_config.get("env_prefix", "")
        for name, field in cls.model_fields.items():
            alias = field.validation_alias if isinstance(field.validation_alias, str) else None
            names[(alias or f"{prefix}{name}").upper()] = cls
    return names


def pinned(image: str) -> bool:
    return bool(PINNED.match(image)) and (":" in image.split("/")[-1] or "@sha256:" in image)


def interpolated(value: Any) -> str:
    """A compose value with ``${VAR:?...}``/``${VAR:-default}`` replaced by a sample."""
    return re.sub(r"\$\{(\w+)[^}]*\}", lambda m: f"sample-{m[1].lower()}", str(value))


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def k8s_documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def containers(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (doc["metadata"]["name"], container)
        for doc in docs
        if doc["kind"] in ("Deployment", "StatefulSet")
        for container in doc["spec"]["template"]["spec"]["containers"]
    ]


def test_the_settings_list_is_not_empty_and_knows_core_variables() -> None:
    known = variables()
    for name in ("NEONBLUE_EVENT_STORE", "NEONBLUE_KAFKA_BOOTSTRAP_SERVERS",
                 "NEONBLUE_CLICKHOUSE_URL", "NEONBLUE_CHROMA_URL", "NEONBLUE_MCP_TOKEN",
                 "NEONBLUE_KAFKA_CDC_TOPICS", "NEONBLUE_LLM_BASE_URL"):  # fmt: skip
        assert name in known
    assert "NEONBLUE_NOT_A_SETTING" not in known


def test_compose_sets_only_known_variables_with_values_the_settings_accept() -> None:
    known = variables()
    services = compose()["services"]
    assert {"kafka", "postgres", "clickhouse", "chroma", "ingest", "serve"} <= set(services)
    checked = 0
    for name, service in services.items():
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        env = {k: interpolated(v) for k, v in environment.items() if k.startswith("NEONBLUE_")}
        unknown = sorted(set(env) - set(known))
        assert not unknown, f"{name} sets variables no setting reads: {unknown}"
        for cls in {known[k] for k in env}:
            with pytest.MonkeyPatch.context() as patch:
                for key, value in env.items():
                    patch.setenv(key, value)
                cls()  # parses every value it reads (e.g. the JSON list of CDC topics)
        checked += len(env)
    assert checked >= 10


def test_compose_pins_images_and_checks_health_and_keeps_state_in_volumes() -> None:
    document = compose()
    for name, service in document["services"].items():
        assert pinned(service["image"]), f"{name}: image {service['image']!r} is not pinned"
        test = service.get("healthcheck", {}).get("test")
        assert test and test != ["NONE"], f"{name} has no health check"
    declared = set(document["volumes"])
    for name in STATEFUL:
        mounts = [v.split(":")[0] for v in document["services"][name]["volumes"]]
        assert set(mounts) & declared, f"{name} keeps its data in no named volume"
    ingest = document["services"]["ingest"]
    assert "--health-file" in ingest["command"] and "replicas" in ingest["deploy"]


def test_kubernetes_manifests_pin_images_probe_every_container_and_set_known_variables() -> None:
    known = variables()
    docs = k8s_documents()
    pods = containers(docs)
    assert {n for n, _ in pods} >= {"kafka", "postgres", "clickhouse", "chroma",
                                    "neonblue-ingest", "neonblue-serve"}  # fmt: skip
    for name, container in pods:
        assert pinned(container["image"]), f"{name}: image {container['image']!r} is not pinned"
        assert "readinessProbe" in container and "livenessProbe" in container, name
        for variable in container.get("env", []):
            if variable["name"].startswith("NEONBLUE_"):
                assert variable["name"] in known, f"{name}: {variable['name']} is no setting"
    config = [d for d in docs if d["kind"] == "ConfigMap"]
    for doc in config:
        env = {k: v for k, v in doc["data"].items() if k.startswith("NEONBLUE_")}
        assert set(env) <= set(known), sorted(set(env) - set(known))
        for cls in {known[k] for k in env}:
            with pytest.MonkeyPatch.context() as patch:
                for key, value in env.items():
                    patch.setenv(key, value)
                cls()
    stateful = [d for d in docs if d["kind"] == "StatefulSet"]
    assert all(d["spec"].get("volumeClaimTemplates") for d in stateful)


def test_kustomization_lists_every_manifest_and_the_images_agree_with_compose() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert listed == {f"k8s/{p.name}" for p in (DEPLOY / "k8s").glob("*.yaml")}
    for generator in kustomization.get("configMapGenerator", []):
        for entry in generator["files"]:
            assert (DEPLOY / entry.split("=")[-1]).is_file()
    compose_images = {s["image"] for s in compose()["services"].values()}
    k8s_images = {c["image"] for _, c in containers(k8s_documents())}
    assert k8s_images <= compose_images


def test_the_dockerfile_builds_from_a_pinned_base_and_runs_neonblue() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    bases = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert bases and all(pinned(b) for b in bases)
    assert 'ENTRYPOINT ["neonblue"]' in text and "pip install -e" not in text
    assert compose()["services"]["serve"]["build"]["dockerfile"] == "deploy/Dockerfile"
