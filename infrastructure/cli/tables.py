"""Tables whose keys and ids can be copied: nothing is ever cut with an ellipsis."""

from __future__ import annotations

from rich.table import Table


def keep_whole(table: Table, *headers: str) -> Table:
    """The named columns (keys, ids) are not wrapped, so rich narrows and wraps the other
    columns first. Every column folds a word that does not fit onto the next line (every
    character kept) instead of ending it in "…"; a key folds only when even the keys
    alone are wider than the terminal."""
    for column in table.columns:
        column.overflow = "fold"
        if str(column.header) in headers:
            column.no_wrap = True
    return table
