"""Arrow's SQLite driver through the driver manager's own API, and Arrow arrays built from
buffers: what the import's writer and the window's readers share.

Neither the driver's DB-API module nor `pa.array()`: the first imports pyarrow.dataset and,
through it, pandas, and the second imports pandas on its first call (~0.3-0.6 s in each
process), for nothing these paths use. Only ever used in a process where no other copy of
SQLite has the file open (see importer._WriterProcess and window_reader): the driver carries
its own copy of SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Rows = list[tuple[Any, ...]]


def int_array(values: Any, missing: Any = None, type_: Any = None) -> Any:
    """A numpy integer array (and a mask of missing values) -> an Arrow array (int64 unless
    `type_` says otherwise)."""
    import numpy as np
    import pyarrow as pa

    type_ = pa.int64() if type_ is None else type_
    values = np.ascontiguousarray(values, dtype=type_.to_pandas_dtype())
    validity = None
    nulls = 0
    if missing is not None and missing.any():
        validity = pa.py_buffer(np.packbits(~missing, bitorder="little"))
        nulls = int(missing.sum())
    return pa.Array.from_buffers(type_, len(values), [validity, pa.py_buffer(values)], nulls)


def bytes_array(values: Sequence[str | bytes | None], type_: Any) -> Any:
    """Strings (or bytes), None for missing -> an Arrow string (or binary) array."""
    import numpy as np
    import pyarrow as pa

    data = [v.encode("utf-8") if isinstance(v, str) else (v or b"") for v in values]
    offsets = np.zeros(len(data) + 1, dtype=np.int32)
    np.cumsum([len(d) for d in data], out=offsets[1:])
    missing = np.array([v is None for v in values], dtype=bool)
    validity = pa.py_buffer(np.packbits(~missing, bitorder="little")) if missing.any() else None
    buffers = [validity, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))]
    return pa.Array.from_buffers(type_, len(data), buffers, int(missing.sum()))


def _column(values: Sequence[Any]) -> Any:
    """One parameter column of Python values (ints, str, bytes, None) as an Arrow array."""
    import numpy as np
    import pyarrow as pa

    kinds = {type(v) for v in values if v is not None}
    if kinds <= {int}:
        missing = np.array([v is None for v in values], dtype=bool)
        return int_array(np.array([0 if v is None else v for v in values], np.int64), missing)
    if kinds <= {str}:
        return bytes_array(values, pa.string())
    if kinds <= {bytes}:
        return bytes_array(values, pa.binary())
    raise TypeError(f"cannot bind a column of {sorted(k.__name__ for k in kinds)}")


def params_table(columns: Sequence[Sequence[Any]]) -> Any:
    """Parameter columns -> an Arrow table, a row per execution of a statement."""
    import pyarrow as pa

    return pa.table([_column(c) for c in columns], names=[f"p{i}" for i in range(len(columns))])


class ArrowSqlite:
    """One connection (autocommit: transactions are explicit); statements each optionally
    bound to one row of parameters or to an Arrow table (executed once a row, in C)."""

    def __init__(self, uri: str) -> None:
        import adbc_driver_manager
        import adbc_driver_sqlite

        self._db: Any = adbc_driver_sqlite.connect(uri)
        try:
            self._conn: Any = adbc_driver_manager.AdbcConnection(self._db)
        except BaseException:
            self._db.close()
            raise

    def _statement(self, sql: str, params: Sequence[Any], table: Any) -> Any:
        import adbc_driver_manager

        stmt = adbc_driver_manager.AdbcStatement(self._conn)
        try:
            stmt.set_sql_query(sql)
            if params:
                stmt.bind_stream(params_table([[p] for p in params]))
            elif table is not None:
                stmt.bind_stream(table)
        except BaseException:
            stmt.close()
            raise
        return stmt

    def run(self, sql: str, params: Sequence[Any] = (), table: Any = None) -> int:
        """Execute `sql` (once, or once a row of `table`): the rows it changed."""
        stmt = self._statement(sql, params, table)
        try:
            return int(stmt.execute_update())
        finally:
            stmt.close()

    def batches(self, sql: str, params: Sequence[Any] = (), batch_rows: int = 0) -> list[Any]:
        """The rows of a query as Arrow record batches (`batch_rows` a batch: the driver's
        default is 1,024, and per-batch work adds up)."""
        import pyarrow as pa

        stmt = self._statement(sql, params, None)
        try:
            if batch_rows:
                stmt.set_options(**{"adbc.sqlite.query.batch_rows": str(batch_rows)})
            stream, _ = stmt.execute_query()
            return list(pa.RecordBatchReader.from_stream(stream))
        finally:
            stmt.close()

    def rows(self, sql: str, params: Sequence[Any] = (), batch_rows: int = 0) -> Rows:
        """The rows of a query as tuples."""
        return [
            row
            for b in self.batches(sql, params, batch_rows)
            for row in zip(*(c.to_pylist() for c in b.columns), strict=True)
        ]

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        found = self.rows(sql, params)
        return found[0][0] if found else None

    def close(self) -> None:
        self._conn.close()
        self._db.close()
