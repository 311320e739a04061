"""Version of the statistics engine, recorded with every published analysis.

Bump it whenever a change to ``domain.statistics`` or ``domain.analysis`` can change a
number in a result, so a recomputation that differs can be told apart from tampering.
"""

ENGINE_VERSION = "1.0.0"
