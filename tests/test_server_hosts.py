"""Host header checks and the settings that choose the names served."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from server.hosts import allowed, host_name
from server.settings import ServerSettings


@pytest.mark.parametrize("header,name", [("localhost:8000", "localhost"), ("127.0.0.1", "127.0.0.1"),
                                         ("[::1]:8000", "::1"), ("Agile.Example.COM", "agile.example.com"),
                                         ("::1", "::1")])
def test_host_name_drops_the_port(header, name):
    assert host_name(header) == name


def test_patterns():
    patterns = ["agile.example.com", "*.corp.example"]
    assert allowed("agile.example.com", patterns) and allowed("a.corp.example", patterns)
    assert not allowed("corp.example.evil", patterns) and not allowed("evil.example", patterns)
    assert allowed("anything", ["*"])


def test_dev_serves_loopback_names_only(tmp_path):
    dev = ServerSettings(corpus=tmp_path, dev=True)
    assert "*" not in dev.served_hosts and "localhost" in dev.served_hosts
    assert ServerSettings(corpus=tmp_path).served_hosts == ["*"]
    assert ServerSettings(corpus=tmp_path, allowed_hosts=["agile.example.com"]).served_hosts == ["agile.example.com"]
    with pytest.raises(ValidationError, match="loopback host names only"):
        ServerSettings(corpus=tmp_path, dev=True, allowed_hosts=["agile.example.com"])
    with pytest.raises(ValidationError, match="max_bootstrap"):
        ServerSettings(corpus=tmp_path, eval_bootstrap=500, max_bootstrap=200)
