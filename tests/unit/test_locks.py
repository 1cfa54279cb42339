"""One registry of advisory locks: unique keys, one documented order, no key taken anywhere else."""

import re

from pipeline.config.paths import project_root
from pipeline.db.locks import Lock


def test_every_advisory_lock_has_a_key_of_its_own():
    # an IntEnum member with a repeated value silently becomes an alias of the first one
    assert len({int(lock) for lock in Lock}) == len(Lock.__members__)


def test_promotion_and_the_predictions_table_no_longer_share_a_key():
    assert Lock.MODEL_REGISTRY != Lock.PREDICTIONS_TABLE  # both were 7_146_004 before the registry existed
    assert int(Lock.MODEL_REGISTRY) != 7_146_004


def test_the_acquisition_order_is_the_declaration_order():
    assert [lock.rank for lock in Lock] == list(range(len(Lock)))
    assert Lock.BI_VIEWS.rank < Lock.PREDICTIONS_TABLE.rank  # a conversion re-points views while holding the table


def test_no_module_takes_an_advisory_lock_outside_the_registry():
    takers = []
    for path in sorted((project_root() / "pipeline").rglob("*.py")):
        if path.name != "locks.py" and re.search(r"pg_(try_)?advisory", path.read_text(encoding="utf-8")):
            takers.append(str(path.relative_to(project_root())))
    assert takers == []
