"""Roset Local: the Roset file-processing API, self-hosted in one process."""

import sys as _sys

import sqlean as _sqlean

# sqlite-utils looks for pysqlite3 before stdlib sqlite3. Stdlib sqlite3 here cannot load
# extensions (sqlite-vec), so the application database must go through sqlean; aliasing it
# before sqlite_utils is first imported makes sqlite-utils use the same library (two SQLite
# libraries on one file in one process corrupt it: see STACK.md).
_sys.modules.setdefault("pysqlite3", _sqlean)
_sys.modules.setdefault("pysqlite3.dbapi2", _sqlean.dbapi2)

__version__ = "0.1.0"
