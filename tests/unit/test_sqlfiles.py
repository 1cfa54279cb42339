import pytest

from pipeline.db.sql import SqlIdentifierError, qualified, quote_ident, render_identifiers, strip_trailing_semicolon


@pytest.mark.parametrize("name", ["predictions", "_x1", "a" * 63])
def test_quote_ident_accepts_plain_lowercase_names(name):
    assert quote_ident(name) == f'"{name}"'


@pytest.mark.parametrize(
    "name", ["", "Predictions", "1abc", "a-b", 'x"; drop table y; --', "a b", "a" * 64, "pré", None]
)
def test_quote_ident_rejects_anything_that_could_escape_quoting(name):
    with pytest.raises(SqlIdentifierError, match="invalid"):
        quote_ident(name)


def test_qualified_names_both_parts_in_error():
    assert qualified("batchscore", "predictions") == '"batchscore"."predictions"'
    with pytest.raises(SqlIdentifierError, match="schema name"):
        qualified("Bad", "predictions")


def test_render_identifiers_fills_every_placeholder_and_leaves_other_braces_alone():
    text = "select '{}'::jsonb from {{ table }} join {{other}} using (id)"
    out = render_identifiers(text, table='"t"', other='"o"')
    assert out == 'select \'{}\'::jsonb from "t" join "o" using (id)'


def test_render_identifiers_refuses_a_missing_value():
    with pytest.raises(KeyError, match="other"):
        render_identifiers("select * from {{table}}, {{other}}", table='"t"')


def test_strip_trailing_semicolon_allows_semicolons_in_strings_and_comments():
    query = "select ';' as x -- a; comment\nfrom t;;\n"
    assert strip_trailing_semicolon(query) == "select ';' as x -- a; comment\nfrom t"


def test_strip_trailing_semicolon_rejects_two_statements():
    with pytest.raises(ValueError, match="single SELECT"):
        strip_trailing_semicolon("select 1; delete from predictions")
