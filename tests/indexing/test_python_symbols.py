"""Python extraction: what counts as a declaration, with lines, parents and signatures."""

from __future__ import annotations

import textwrap

import pytest

from codeframe.indexing import Symbol, SymbolType
from codeframe.indexing.python_symbols import extract_python_symbols

SOURCE = textwrap.dedent(
    '''
    """A module."""
    from typing import TYPE_CHECKING

    MAX_RETRIES = 3
    TIMEOUT: float = 2.5
    HOST, PORT_NUMBER = "localhost", 8080
    logger = None
    T = object()

    if TYPE_CHECKING:
        class OnlyForTypes:
            pass


    class Base:
        pass


    class UserService(Base, metaclass=type):
        """Users."""

        LIMIT = 5

        def login(self, user: str, password: str) -> bool:
            def local_helper():
                return 1
            return True

        @property
        async def profile(self, *args, key=1, **kwargs):
            ...

        class Settings:
            def reload(self):
                pass


    def login_user(user: str, password: str) -> bool:
        return True


    async def fetch_all(limit: int = 10):
        class LocalClass:
            pass
    '''
)


def by_name(symbols: list[Symbol]) -> dict[str, Symbol]:
    return {symbol.name: symbol for symbol in symbols}


@pytest.fixture
def symbols() -> dict[str, Symbol]:
    return by_name(extract_python_symbols(SOURCE, "pkg/users.py"))


def test_finds_each_kind_with_its_line(symbols: dict[str, Symbol]) -> None:
    lines = SOURCE.splitlines()
    expected = {
        "MAX_RETRIES": SymbolType.VARIABLE,
        "TIMEOUT": SymbolType.VARIABLE,
        "HOST": SymbolType.VARIABLE,
        "PORT_NUMBER": SymbolType.VARIABLE,
        "OnlyForTypes": SymbolType.CLASS,
        "Base": SymbolType.CLASS,
        "UserService": SymbolType.CLASS,
        "login": SymbolType.METHOD,
        "profile": SymbolType.METHOD,
        "Settings": SymbolType.CLASS,
        "reload": SymbolType.METHOD,
        "login_user": SymbolType.FUNCTION,
        "fetch_all": SymbolType.FUNCTION,
    }
    assert {name: symbol.type for name, symbol in symbols.items()} == expected
    for symbol in symbols.values():
        # 1-based lines pointing at the declaration itself (the def, not its decorator).
        assert symbol.name in lines[symbol.line_number - 1]
        assert symbol.file_path == "pkg/users.py"
        assert symbol.language == "python"


def test_locals_lowercase_and_class_attributes_are_not_symbols(
    symbols: dict[str, Symbol],
) -> None:
    for name in ("local_helper", "LocalClass", "logger", "T", "LIMIT", "TYPE_CHECKING"):
        assert name not in symbols


def test_methods_and_nested_classes_name_their_enclosing_class(
    symbols: dict[str, Symbol],
) -> None:
    assert symbols["login"].parent == "UserService"
    assert symbols["profile"].parent == "UserService"
    assert symbols["Settings"].parent == "UserService"
    assert symbols["reload"].parent == "Settings"
    assert symbols["UserService"].parent is None
    assert symbols["login_user"].parent is None


def test_signatures(symbols: dict[str, Symbol]) -> None:
    assert symbols["login"].signature == "def login(self, user: str, password: str) -> bool"
    assert symbols["login_user"].signature == "def login_user(user: str, password: str) -> bool"
    assert symbols["profile"].signature == "async def profile(self, *args, key=1, **kwargs)"
    assert symbols["fetch_all"].signature == "async def fetch_all(limit: int=10)"
    assert symbols["UserService"].signature == "class UserService(Base, metaclass=type)"
    assert symbols["Base"].signature == "class Base"
    assert symbols["MAX_RETRIES"].signature == "MAX_RETRIES = 3"
    assert symbols["TIMEOUT"].signature == "TIMEOUT: float = 2.5"
    assert symbols["PORT_NUMBER"].signature == "PORT_NUMBER = ..."


def test_long_constant_values_are_elided() -> None:
    source = "BIG = " + repr(list(range(100))) + "\n"
    (symbol,) = extract_python_symbols(source, "big.py")
    assert symbol.signature == "BIG = ..."


def test_symbols_come_in_source_order() -> None:
    symbols = extract_python_symbols(SOURCE, "pkg/users.py")
    lines = [symbol.line_number for symbol in symbols]
    assert lines == sorted(lines)


def test_bytes_honour_a_coding_cookie() -> None:
    source = "# -*- coding: latin-1 -*-\nGREETING = 'caf\xe9'\ndef caf\xe9(): pass\n"
    symbols = extract_python_symbols(source.encode("latin-1"), "latin.py")
    assert [symbol.name for symbol in symbols] == ["GREETING", "café"]
    assert symbols[0].signature == "GREETING = 'café'"


def test_a_syntax_error_propagates_for_the_index_to_log() -> None:
    with pytest.raises(SyntaxError):
        extract_python_symbols("def broken(:\n", "broken.py")
