"""No cassette anywhere in the repository holds a token-looking string."""

from __future__ import annotations

from pathlib import Path

from tests.vcr_scrub import find_tokens

ROOT = Path(__file__).resolve().parents[1]
SKIPPED = {".git", ".venv", "node_modules", "site", "build", "dist"}


def cassette_files() -> list[Path]:
    """Every file under a ``cassettes`` folder of the repository."""
    found = []
    for folder in ROOT.rglob("cassettes"):
        if folder.is_dir() and not SKIPPED.intersection(folder.relative_to(ROOT).parts):
            found += [path for path in folder.rglob("*") if path.is_file()]
    return sorted(found)


def test_the_scan_sees_the_integration_cassettes() -> None:
    # Guards the scan itself: a glob that matched nothing would pass vacuously.
    assert any("integrations" in path.parts for path in cassette_files())


def test_no_cassette_contains_a_token() -> None:
    leaks = {
        str(path.relative_to(ROOT)): tokens
        for path in cassette_files()
        if (tokens := find_tokens(path.read_text(errors="replace")))
    }
    assert not leaks, f"token-looking strings in cassettes (scrub and re-record them): {leaks}"
