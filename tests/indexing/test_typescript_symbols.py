"""TypeScript/JavaScript extraction: declarations found, noise ignored, never a crash."""

from __future__ import annotations

import textwrap

from hypothesis import given
from hypothesis import strategies as st

from codeframe.indexing import Symbol
from codeframe.indexing.typescript_symbols import extract_typescript_symbols, mask_noise

SOURCE = textwrap.dedent(
    """\
    // export function inLineComment() {}
    /* export class InBlockComment {
    } */
    import { api } from "./api";
    const pattern = /[{]"'/g;
    const text = "export function inString() {";
    const tpl = `
    export function inTemplate() {}
    ${text} {
    `;
    export function login(user: string, password: string): boolean {
      if (user) { return true; }
      return false;
    }
    export async function fetchUser(
      id: number,
      opts: { fresh: boolean } = { fresh: false },
    ): Promise<User> {
      return api.get(`/users/${id}`);
    }
    export default function App() { return <p>Don't {"}"} panic</p>; }
    export class UserService extends Base implements IService {
      private readonly cache = new Map();
      constructor(private api: Api) { super(); }
      async login(user: string): Promise<boolean> {
        if (user) {
          return true;
        }
        return false;
      }
      static create<T>(x: T): UserService { return new UserService(x); }
      get name(): string { return "n"; }
      handleClick = (e: Event) => { this.clicked = true; };
    }
    export interface UserProps {
      name: string;
      login(): void;
    }
    export type Status = "active" | "blocked";
    export type Mapper<T = string> = (x: T) => T;
    export const MAX_USERS = 10;
    export const formatUser = (u: User): string => u.name;
    export const handler: Handler = async (event) => {
      return 1;
    };
    export const sum = (
      a: number,
      b: number,
    ) => a + b;
    export const config = {
      retries: 3,
    };
    export const legacy = function () {};
    export enum Color { Red, Green }
    function helper() {}
    class Internal {
      run() {}
    }
    interface Local { a: number }
    const notExported = () => 1;
    let counter = 0;
    """
)


def extract(source: str = SOURCE, language: str = "typescript") -> list[Symbol]:
    return extract_typescript_symbols(source, "src/users.tsx", language)


def table(symbols: list[Symbol]) -> list[tuple[str, str, str | None]]:
    return [(symbol.name, symbol.type.value, symbol.parent) for symbol in symbols]


def test_finds_each_kind_in_order_and_nothing_from_comments_or_strings() -> None:
    assert table(extract()) == [
        ("login", "function", None),
        ("fetchUser", "function", None),
        ("App", "function", None),
        ("UserService", "class", None),
        ("constructor", "method", "UserService"),
        ("login", "method", "UserService"),
        ("create", "method", "UserService"),
        ("name", "method", "UserService"),
        ("handleClick", "method", "UserService"),
        ("UserProps", "interface", None),
        ("Status", "type", None),
        ("Mapper", "type", None),
        ("MAX_USERS", "variable", None),
        ("formatUser", "function", None),
        ("handler", "function", None),
        ("sum", "function", None),
        ("config", "variable", None),
        ("legacy", "function", None),
        ("Color", "type", None),
        ("helper", "function", None),
        ("Internal", "class", None),
        ("run", "method", "Internal"),
        ("Local", "interface", None),
    ]


def test_line_numbers_are_one_based_and_point_at_the_declaration() -> None:
    lines = SOURCE.splitlines()
    for symbol in extract():
        assert symbol.name in lines[symbol.line_number - 1]
        assert symbol.file_path == "src/users.tsx"
        assert symbol.language == "typescript"


def test_signatures_are_the_declaration_head_on_one_line() -> None:
    signatures = {(s.parent, s.name): s.signature for s in extract()}
    assert signatures[(None, "login")] == (
        "export function login(user: string, password: string): boolean"
    )
    assert signatures[(None, "fetchUser")] == (
        "export async function fetchUser(id: number, opts: { fresh: boolean } = "
        "{ fresh: false }): Promise<User>"
    )
    assert signatures[("UserService", "login")] == "async login(user: string): Promise<boolean>"
    assert signatures[(None, "UserService")] == (
        "export class UserService extends Base implements IService"
    )
    assert signatures[(None, "Status")] == 'export type Status = "active" | "blocked"'
    assert signatures[(None, "MAX_USERS")] == "export const MAX_USERS = 10"
    assert signatures[(None, "sum")] == "export const sum = (a: number, b: number) => a + b"
    assert signatures[(None, "config")] == "export const config ="


def test_language_is_passed_through_for_javascript() -> None:
    symbols = extract("export function run() {}\n", language="javascript")
    assert [(s.name, s.language) for s in symbols] == [("run", "javascript")]


def test_a_stray_closing_brace_does_not_hide_later_declarations() -> None:
    source = "}\n}\nexport function afterNoise() {}\n"
    assert table(extract(source)) == [("afterNoise", "function", None)]


def test_an_unclosed_block_hides_what_follows_instead_of_inventing_symbols() -> None:
    source = "export function open() {\n  function inner() {}\n"
    assert table(extract(source)) == [("open", "function", None)]


def test_class_members_come_only_from_the_class_body() -> None:
    source = (
        "export declare class Opaque\n"
        "export function after() {\n"
        "  inner();\n"
        "}\n"
        "export class Shape\n"
        "  extends Base\n"
        "{\n"
        "  area(): number { return 0; }\n"
        "}\n"
        "function later() {\n"
        "  call();\n"
        "}\n"
    )
    assert table(extract(source)) == [
        ("Opaque", "class", None),
        ("after", "function", None),
        ("Shape", "class", None),
        ("area", "method", "Shape"),
        ("later", "function", None),
    ]


def test_mask_noise_keeps_offsets_and_newlines() -> None:
    masked = mask_noise(SOURCE)
    assert len(masked) == len(SOURCE)
    assert [i for i, c in enumerate(masked) if c == "\n"] == [
        i for i, c in enumerate(SOURCE) if c == "\n"
    ]
    assert "inTemplate" not in masked
    assert "inString" not in masked
    assert "InBlockComment" not in masked


@given(st.text(alphabet=st.sampled_from(list("export function class {}()'\"`/*\n=>abc;:<>\\"))))
def test_never_raises_on_arbitrary_text(source: str) -> None:
    symbols = extract_typescript_symbols(source, "fuzz.ts")
    line_count = source.count("\n") + 1
    assert all(1 <= symbol.line_number <= line_count for symbol in symbols)
    assert len(mask_noise(source)) == len(source)
