"""covidsync.settings: a folder variable's path is resolved once a process (issue 16, e32-small), and still
follows the variable's value and, for a relative value, the working directory."""

from __future__ import annotations

from covidsync import settings


def test_a_folder_follows_its_variable_and_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    monkeypatch.setenv("COVIDSYNC_DATA_DIR", str(tmp_path / "link"))
    assert settings.data_dir() == (tmp_path / "real").resolve()
    assert settings.landing_dir() == (tmp_path / "real" / "landing").resolve()
    monkeypatch.setenv("COVIDSYNC_DATA_DIR", str(tmp_path / "a"))
    assert settings.data_dir() == (tmp_path / "a").resolve()
    monkeypatch.setenv("COVIDSYNC_DATA_DIR", "data")
    monkeypatch.chdir(tmp_path / "a")
    assert settings.data_dir() == (tmp_path / "a" / "data").resolve()
    monkeypatch.chdir(tmp_path / "b")
    assert settings.data_dir() == (tmp_path / "b" / "data").resolve()
    monkeypatch.delenv("COVIDSYNC_DATA_DIR")
    monkeypatch.setenv("COVIDSYNC_HOME", str(tmp_path / "b"))
    assert settings.data_dir() == (tmp_path / "b" / "data").resolve()
