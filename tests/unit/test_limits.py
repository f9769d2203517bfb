from __future__ import annotations

import pytest

from chalicelib.limits import LimitError, format_memory, parse_cpu, parse_memory


@pytest.mark.parametrize(
    ("text", "nano"),
    [
        ("0.5", 500_000_000),
        ("2", 2_000_000_000),
        ("500m", 500_000_000),
        (" 1.25 ", 1_250_000_000),
        (1, 10**9),
    ],
)
def test_parse_cpu(text: str, nano: int) -> None:
    assert parse_cpu(text) == nano


@pytest.mark.parametrize("text", ["", "abc", "0", "0.001", "65", "-1", "nan", "inf", "1.5x"])
def test_parse_cpu_refuses(text: str) -> None:
    with pytest.raises(LimitError, match="cpu limit"):
        parse_cpu(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512m", 512 * 1024**2),
        ("1g", 1024**3),
        ("1.5G", 1536 * 1024**2),
        ("256MiB", 256 * 1024**2),
        ("64mb", 64 * 1024**2),
        ("10485760", 10485760),
        ("8192k", 8 * 1024**2),
    ],
)
def test_parse_memory(text: str, size: int) -> None:
    assert parse_memory(text) == size


@pytest.mark.parametrize("text", ["", "lots", "512x", "1m", "5m", "300g", "-1g", "1..5g"])
def test_parse_memory_refuses(text: str) -> None:
    with pytest.raises(LimitError, match="memory limit"):
        parse_memory(text)


def test_format_memory_round_trips() -> None:
    for text in ("512m", "1g", "10000k", "7340033"):
        assert format_memory(parse_memory(text)) == text
