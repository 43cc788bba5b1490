"""`has_substring(column, text)`: the column contains the text, literally, without LIKE.

Employee maintenance's search is a LIKE '%word%', which PostgreSQL answers from a trigram
index (migration ed8392a709e2) for words of three characters or more. A shorter word has no
trigram: the index would hand back every row to be checked again. PostgreSQL still picks that
plan once a prepared search statement turns generic (the word is then unknown to the planner),
and it costs several times a plain scan. Shorter words are therefore searched with this
function, which no index serves: strpos() on PostgreSQL, instr() on SQLite, the standard
POSITION() elsewhere (and when a statement is printed). None has wildcards, so nothing needs escaping.
"""
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Boolean

SHORTEST_INDEXED = 3  # characters: the length of a trigram


class has_substring(FunctionElement):  # noqa: N801 - used like a SQL function
    type = Boolean()
    inherit_cache = True


def _operands(element, compiler, **kw) -> tuple[str, str]:
    column, text = list(element.clauses)
    return compiler.process(column, **kw), compiler.process(text, **kw)


# In parentheses: a dialect may append "= 1" to a boolean condition.
@compiles(has_substring)
def _standard(element, compiler, **kw) -> str:
    column, text = _operands(element, compiler, **kw)
    return f"(POSITION({text} IN {column}) > 0)"


@compiles(has_substring, "postgresql")
def _postgresql(element, compiler, **kw) -> str:
    column, text = _operands(element, compiler, **kw)
    return f"(strpos({column}, {text}) > 0)"


@compiles(has_substring, "sqlite")
def _sqlite(element, compiler, **kw) -> str:
    column, text = _operands(element, compiler, **kw)
    return f"(instr({column}, {text}) > 0)"


def contains_text(column, text: str) -> ColumnElement[bool]:
    """The search condition for `text` in `column` (both already search_key()ed)."""
    if len(text) >= SHORTEST_INDEXED:
        return column.contains(text, autoescape=True)
    return has_substring(column, text)
