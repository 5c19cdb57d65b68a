"""Cells of the CSV files people open in spreadsheets.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some, a tab
or carriage return) as a formula: text written by a platform or copied from a post could
then fetch a link or run a command on the reader's machine. Such text is written with a
leading apostrophe, which spreadsheets show as text and do not keep in the cell's value
(the OWASP advice for CSV injection).
"""

from __future__ import annotations

from typing import Any

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: Any) -> Any:
    """``value``, or its text with an apostrophe in front when a spreadsheet would run it."""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else value
