"""Tables whose keys and ids can be copied: nothing is ever cut with an ellipsis."""

from __future__ import annotations

from collections.abc import Iterator

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.table import Table
from rich.text import Text

BORDER = 3  # per column: a rule and one space of padding on each side


class WholeTable:
    """A table whose named columns (keys, ids) are never wrapped and no word of any cell is
    split. Where the terminal (or a file: 80 columns) is too narrow for that, each row is
    printed as a block of ``header  value`` lines instead, so no column shrinks to a
    letter a line."""

    def __init__(self, table: Table, whole: tuple[str, ...]) -> None:
        self.table = keep_whole(table, *whole)
        self.whole = whole

    def needed_width(self) -> int:
        """Columns at the width of their widest key (or word, for other columns)."""
        total = 1
        for column in self.table.columns:
            whole = str(column.header) in self.whole
            texts = [str(column.header), *(_plain(cell) for cell in column.cells)]
            total += BORDER + max(_widest(text, whole) for text in texts)
        return total

    def rows(self) -> Iterator[list[str]]:
        columns = [list(map(_plain, c.cells)) for c in self.table.columns]
        yield from (list(row) for row in zip(*columns, strict=True))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.needed_width() <= options.max_width:
            yield self.table
            return
        headers = [str(c.header) for c in self.table.columns]
        if self.table.title:  # markup, as the table renders its title
            yield Text.from_markup(str(self.table.title), style="bold")
        for index, row in enumerate(self.rows()):
            grid = Table.grid(padding=(0, 2))
            grid.add_column(style="bold", no_wrap=True)
            grid.add_column(overflow="fold")
            for header, value in zip(headers, row, strict=True):
                grid.add_row(header, Text(value))  # plain: not read as markup again
            yield Group(Text(""), grid) if index else grid
        if self.table.caption:
            yield Group(Text(""), Text.from_markup(str(self.table.caption), style="dim"))


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


def whole_rows(table: Table, *headers: str) -> WholeTable:
    """A listing: ``table`` with the named columns kept whole, or one block per row where
    the terminal is too narrow to show every column readably (see `WholeTable`)."""
    return WholeTable(table, headers)


def _plain(cell: object) -> str:
    return cell.plain if isinstance(cell, Text) else Text.from_markup(str(cell)).plain


def _widest(text: str, whole: bool) -> int:
    parts = text.splitlines() if whole else text.split()
    return max((len(part) for part in parts), default=0)
