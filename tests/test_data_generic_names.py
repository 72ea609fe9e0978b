"""The generic list format takes class names as labels when the names are given."""

from __future__ import annotations

import pytest

from actionlab.config import DataConfig
from actionlab.data import load_annotations
from actionlab.errors import DataError
from tests._data_helpers import workdir


def _cfg(tmp, lines: str, **kw) -> DataConfig:
    root = workdir() / "generic_names" / tmp.name
    root.mkdir(parents=True, exist_ok=True)
    (root / "list.txt").write_text(lines, encoding="utf-8")
    (root / "classes.txt").write_text("juggling\nrunning\nswimming\n", encoding="utf-8")
    return DataConfig(format="generic", root=str(root), train_list="list.txt", **kw)


def test_class_names_as_labels(tmp_path):
    c = _cfg(tmp_path, "v/a.mp4 running\nv/b.mp4 2\nv/c.mp4 juggling,swimming\n", class_names="classes.txt")
    ann = load_annotations(c, "train")
    assert [r.label for r in ann.records] == [(1,), (2,), (0, 2)] and ann.multi_label
    assert ann.class_names == ["juggling", "running", "swimming"]
    opts = DataConfig(**{**c.__dict__, "class_names": None, "options": {"classes": ["a", "b"]}})
    (workdir() / "generic_names" / tmp_path.name / "list.txt").write_text("v/a.mp4 b\nv/b.mp4 a\n")
    assert [r.label for r in load_annotations(opts, "train").records] == [1, 0]


def test_unknown_name_or_no_names_is_a_line_error(tmp_path):
    c = _cfg(tmp_path, "v/a.mp4 running\nv/b.mp4 diving\n", class_names="classes.txt")
    with pytest.raises(DataError, match=r"list.txt:2: bad label 'diving' \(expected a class index, a class name"):
        load_annotations(c, "train")
    bare = _cfg(tmp_path, "v/a.mp4 running\n")
    with pytest.raises(DataError, match=r"list.txt:1: bad label 'running' .*need data.class_names"):
        load_annotations(bare, "train")
