"""The shape of the code, checked: small modules, no reach-ins, one owner per table, thin DAG files, settings
read in one place, and generated references that match the models."""

import ast
import re
import sys
from pathlib import Path

import pytest

from pipeline.config.paths import project_root, sql_dir
from pipeline.config.reference import documents
from pipeline.db.schema import TABLE_OWNERS

ROOT = project_root()
MODULES = sorted((ROOT / "pipeline").rglob("*.py"))
MAX_LINES = 400


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


@pytest.mark.parametrize("relative", list(documents()), ids=str)
def test_the_generated_reference_matches_the_models(relative):
    on_disk = (ROOT / relative).read_text(encoding="utf-8") if (ROOT / relative).is_file() else ""
    assert on_disk == documents()[relative], f"{relative} is stale: run `make reference`"


def test_no_module_of_the_package_is_over_400_lines():
    long = {module_name(p): n for p in MODULES if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_no_module_imports_a_private_name_of_another_module():
    reach_ins = []
    for path in [*MODULES, *sorted((ROOT / "dags").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pipeline"):
                reach_ins += [f"{path.name}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert reach_ins == []


def _sql_files_loaded(text: str) -> list[Path]:
    return [sql_dir() / m for m in re.findall(r"(?:load|read)_sql\(\s*f?\"([a-z_/]+\.sql)\"", text)]


WRITE = re.compile(r"\b(?:insert\s+into|update|delete\s+from)\s+batchscore\.([a-z_]+)", re.I)


def test_every_batchscore_table_is_written_by_its_owner_only():
    trespass = []
    for path in MODULES:
        text = path.read_text(encoding="utf-8")
        sources = [text, *(p.read_text(encoding="utf-8") for p in _sql_files_loaded(text) if p.is_file())]
        for table in {t for source in sources for t in WRITE.findall(source)}:
            owner = TABLE_OWNERS.get(table)
            if owner is not None and owner != module_name(path):
                trespass.append(f"{module_name(path)} writes {table} (owner: {owner})")
    assert trespass == []


def test_the_owner_map_names_modules_that_exist():
    assert {o for o in TABLE_OWNERS.values() if o not in {module_name(p) for p in MODULES}} == set()


STDLIB = set(sys.stdlib_module_names) | {"__future__"}


@pytest.mark.parametrize("dag_file", sorted((ROOT / "dags").glob("*.py")), ids=lambda p: p.name)
def test_a_dag_file_imports_airflow_sdk_the_standard_library_and_the_tasks_module_only(dag_file):
    imported = set()
    for node in ast.walk(ast.parse(dag_file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported |= {f"{node.module}:{a.name}" if node.module == "pipeline" else node.module for a in node.names}
    allowed = {m for m in imported if m.split(".")[0] in STDLIB or m == "airflow.sdk" or m.startswith("airflow.sdk.")}
    assert imported - allowed == {"pipeline:tasks"}


def test_environment_variables_of_batchscore_are_read_by_the_settings_model_only():
    readers = [
        module_name(p)
        for p in MODULES
        if module_name(p) != "pipeline.config.settings"
        and re.search(r"(environ(\.get)?\s*[\[(]|getenv\()\s*[\"']BATCHSCORE_", p.read_text(encoding="utf-8"))
    ]
    assert readers == []
