"""`neonblue experiments create --spec`: the key may come from the spec, and a definition
shown with `show --json` buckets users the same way when created under another key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.infrastructure.test_cli import neonblue


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    return {"NEONBLUE_DATA_DIR": str(tmp_path / "data"), "NEONBLUE_EVENT_STORE": ""}


def spec_file(tmp_path: Path, **fields: object) -> Path:
    spec = {
        "variants": ["control=0.5", "green=0.5"],
        "metrics": ["conversion:primary:binomial"],
        **fields,
    }
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def shown(env: dict[str, str], key: str) -> dict:
    done = neonblue(env, "experiments", "show", key, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_key_comes_from_the_spec_or_the_command_line(sqlite_env, tmp_path):
    spec = spec_file(tmp_path, key="from-spec", name="From the spec")
    created = neonblue(sqlite_env, "experiments", "create", "--spec", str(spec))
    assert created.returncode == 0, created.stderr
    assert shown(sqlite_env, "from-spec")["name"] == "From the spec"

    overridden = neonblue(sqlite_env, "experiments", "create", "given", "--spec", str(spec))
    assert overridden.returncode == 0, overridden.stderr
    assert shown(sqlite_env, "given")["name"] == "From the spec"

    half = spec_file(tmp_path, key="half", coverage=0.5)
    assert neonblue(sqlite_env, "experiments", "create", "--spec", str(half)).returncode == 0
    assert shown(sqlite_env, "half")["coverage"] == 0.5
    whole = ("experiments", "create", "whole", "--spec", str(half), "--coverage", "1.0")
    assert neonblue(sqlite_env, *whole).returncode == 0  # an explicit 1.0 overrides the spec
    assert shown(sqlite_env, "whole")["coverage"] == 1.0

    keyless = spec_file(tmp_path, name="No key")
    refused = neonblue(sqlite_env, "experiments", "create", "--spec", str(keyless))
    assert refused.returncode == 2
    assert "KEY argument" in refused.stderr and '"key" in the --spec file' in refused.stderr
    assert "Missing argument" not in refused.stderr

    spec.write_text(json.dumps({"key": 7}))
    bad = neonblue(sqlite_env, "experiments", "create", "--spec", str(spec))
    assert bad.returncode == 1 and "'key' must be a string" in bad.stderr

    helped = neonblue({}, "experiments", "create", "--help")
    assert "overrides the spec's" in " ".join(helped.stdout.split())


def test_a_shown_definition_buckets_the_same_under_another_key(sqlite_env, tmp_path):
    created = neonblue(
        sqlite_env,
        "experiments", "create", "original",
        "--variant", "control=0.5", "--variant", "green=0.5",
        "--metric", "conversion:primary:binomial",
        "--seed", "original-seed", "--hash-version", "1", "--namespace", "checkout:0.2:0.9",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    original = shown(sqlite_env, "original")
    assert original["seed"] == "original-seed"
    assert original["hash_version"] == 1
    assert original["namespace"] == {"name": "checkout", "start": 0.2, "end": 0.9}

    spec = tmp_path / "original.json"
    spec.write_text(json.dumps(original))
    copied = neonblue(sqlite_env, "experiments", "create", "copy", "--spec", str(spec))
    assert copied.returncode == 0, copied.stderr
    copy = shown(sqlite_env, "copy")
    for field in ("seed", "hash_version", "namespace", "variants", "coverage"):
        assert copy[field] == original[field], field

    for user in ("u-1", "u-2"):  # the same users in the same arms (hash values shown)
        first = neonblue(sqlite_env, "assign", "original", user).stdout
        second = neonblue(sqlite_env, "assign", "copy", user).stdout
        assert first == second.replace("copy", "original"), (first, second)

    text_form = spec_file(tmp_path, key="texts", namespace="checkout:0:0.5", hash_version=1)
    created = neonblue(sqlite_env, "experiments", "create", "--spec", str(text_form))
    assert created.returncode == 0, created.stderr
    texts = shown(sqlite_env, "texts")
    assert texts["namespace"] == {"name": "checkout", "start": 0.0, "end": 0.5}
    assert texts["hash_version"] == 1 and texts["seed"] == "texts"


def test_a_misspelt_or_repeated_field_is_refused(tmp_path: Path) -> None:
    """A typo dropped the field silently (no metrics), and of a repeated key the last won."""
    from infrastructure.cli.parsing import SpecError, read_spec

    with pytest.raises(SpecError, match="unknown field 'metircs' \\(did you mean 'metrics'\\?\\)"):
        read_spec(spec_file(tmp_path, metircs=["conversion:primary:binomial"]))
    nothing = tmp_path / "null.json"
    nothing.write_text("null")
    with pytest.raises(SpecError, match="it holds a JSON null, not an object"):
        read_spec(nothing)
    marked = tmp_path / "bom.json"  # as some editors save it
    marked.write_bytes(b"\xef\xbb\xbf" + json.dumps({"key": "k", "variants": ["a=1"]}).encode())
    assert read_spec(marked)["key"] == "k"
    deep = tmp_path / "deep.json"
    deep.write_text('{"key": "x", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(SpecError, match="nests too deep"):  # a RecursionError traceback
        read_spec(deep)
    repeated = tmp_path / "repeated.json"
    repeated.write_text('{"name": "A", "variants": ["a=1"], "name": "B"}')
    with pytest.raises(SpecError, match="the key 'name' appears twice"):
        read_spec(repeated)


def test_every_field_show_json_prints_is_taken(tmp_path: Path) -> None:
    """`show --json` output stays a valid spec: its state fields are known and ignored."""
    from infrastructure.cli.parsing import read_spec
    from mcp_servers.common.models import ExperimentOut

    printed = {name: None for name in ExperimentOut.model_fields}
    printed |= {"variants": [], "metrics": [], "tags": [], "coverage": 1.0, "hash_version": 2}
    printed |= {"key": "k", "name": "K", "hypothesis": "", "description": "", "owner": ""}
    path = tmp_path / "shown.json"
    path.write_text(json.dumps(printed | {"seed": "s", "namespace": None}))
    assert read_spec(path)["key"] == "k"


@pytest.mark.parametrize(
    "entry",
    [
        {"key": "a", "weight": "0.5"},
        {"key": "a", "weight": True},
        {"key": 5, "weight": 0.5},
        {"key": "a", "weight": 0.5, "colour": "red"},
    ],
    ids=["weight-string", "weight-boolean", "key-number", "unknown-field"],
)
def test_a_variant_object_takes_numbers_as_numbers(entry: dict) -> None:
    """`float` took "0.5" and True (weight 1.0) without a word."""
    from infrastructure.cli.parsing import SpecError, namespace_of, variant_of

    with pytest.raises(SpecError, match="expected 'key=weight'"):
        variant_of(entry, 2)
    assert variant_of({"key": "a", "weight": 1}, 2).weight == 1.0
    with pytest.raises(SpecError, match="expected 'name:start:end'"):
        namespace_of({"name": "checkout", "start": "0", "end": 0.5})
    with pytest.raises(SpecError, match="expected 'name:start:end'"):  # dropped, silently
        namespace_of({"name": "checkout", "start": 0, "end": 0.5, "size": 2})
