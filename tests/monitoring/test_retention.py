"""Retention rules: when a log file rotates, which rotated files go, and the settings that name them."""

from __future__ import annotations

import pytest

from monitoring.retention import doomed, due
from protocol.config import ConfigError, load_config
from protocol.monitoring import Retention, Rotation

DAY = 86400.0


def test_rotation_by_size_by_time_or_both():
    both = Rotation(max_bytes=100, every_s=DAY)
    assert not due(both, size=90, incoming=10, opened_at=0, now=10)
    assert due(both, size=95, incoming=10, opened_at=0, now=10)
    assert due(both, size=1, incoming=1, opened_at=0, now=DAY)
    assert not due(both, size=0, incoming=500, opened_at=0, now=DAY)  # never an empty file: a long line goes in
    assert not due(Rotation(max_bytes=None, every_s=DAY), size=10**9, incoming=1, opened_at=0, now=10)
    assert not due(Rotation(max_bytes=100, every_s=None), size=1, incoming=1, opened_at=0, now=100 * DAY)


def test_retention_by_count_or_by_age():
    files = [(f"arbiter.{i}.jsonl.gz", i * DAY) for i in range(10)]
    assert doomed(files, Retention(count=3, max_age_s=None), now=10 * DAY) == [f"arbiter.{i}.jsonl.gz"
                                                                               for i in range(6, -1, -1)]
    assert sorted(doomed(files, Retention(count=None, max_age_s=7 * DAY), now=10 * DAY)) == [
        "arbiter.0.jsonl.gz", "arbiter.1.jsonl.gz", "arbiter.2.jsonl.gz"]


def test_the_settings_parse_and_bad_ones_are_one_line():
    cfg = load_config({"LOG_ROTATION": "10 MB, 12 h", "LOG_RETENTION": "14 days", "AUDIT_RETENTION": "90 days",
                       "LOG_FORMAT": "JSON", "LOG_COMPRESSION": "xz"}).monitoring
    assert cfg.log_rotation == Rotation(max_bytes=10 * 1024**2, every_s=12 * 3600.0)
    assert cfg.log_retention == Retention(count=None, max_age_s=14 * DAY)
    assert (cfg.audit_retention_s, cfg.log_format, cfg.log_compression) == (90 * DAY, "json", "xz")
    assert load_config({"LOG_RETENTION": "20"}).monitoring.log_retention == Retention(count=20, max_age_s=None)
    defaults = load_config({}).monitoring  # a week of logs, a month of audit
    assert defaults.log_retention.max_age_s == 7 * DAY and defaults.audit_retention_s == 30 * DAY
    for env, bad in (("LOG_ROTATION", "often"), ("LOG_RETENTION", "-3"), ("AUDIT_RETENTION", "forever")):
        with pytest.raises(ConfigError) as err:
            load_config({env: bad})
        assert str(err.value).startswith(f"config error: {env}='{bad}'") and "\n" not in str(err.value)
