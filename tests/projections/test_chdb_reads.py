"""chDB query results come back as Python rows without loading pandas (0.4 s of a cold
`results`): chDB's own "ArrowTable" format imports it; the client reads "Arrow" itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]

SCRIPT = """
import json, sys
from pathlib import Path
from projections.analytics.client import ChdbClient
client = ChdbClient(Path(sys.argv[1]))
rows = client.rows("SELECT number, toString(number) FROM numbers(3)")
empty = client.rows("SELECT number FROM numbers(3) WHERE number > 5")
client.close()
print(json.dumps({"rows": rows, "empty": empty, "pandas": "pandas" in sys.modules}))
"""


def test_rows_without_pandas(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "chdb")],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"rows": [[0, "0"], [1, "1"], [2, "2"]], "empty": [], "pandas": False}
