"""A group's small CSV files read as one stream (covidsync.ingest.group_stage.read_stream, issue 16) give each
file exactly the batches it gets read on its own (group_stage.read_opened): its rows, row numbers (blank lines
counted), cleaned cells, the columns it did not send; a file the stream does not take is left to be read alone."""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import unicodedata

import polars as pl
import pytest
from test_columnar import HEADER, PLAIN_FILES

from covidsync.ingest import columnar, group_stage, parse
from covidsync.ingest.datasets import spec as dataset_spec


@dataclasses.dataclass(frozen=True)
class References:
    facility_code: str = ""
    received_at: object = None
    has_record_id: bool = False


ROWS = [
    "R1,Nguyễn Văn A,01/02/1990,Nam,001090000001,17,01,00001,Pfizer,L1,1,05/11/2021,x",
    'R2,"Trần, Văn ""Tí""",,,,,,,,,,,',
    "",
    ",,,,,,,,,,,,note only",
    ",,,",
    "R3, B ,\u200b01/02/1990 ," + unicodedata.normalize("NFD", "Trần Thị Ánh") + ",,,,,AZ,,2,,",
]
STREAMED = {
    "a": HEADER + "\n" + "\n".join(ROWS) + "\n",
    "b_crlf_no_final_newline": "\r\n".join([HEADER, ROWS[0], "R9,Lê C,31/02/1990"]),
    "c_blank_lines_only_but_one": HEADER + "\n\n,,,\nR4,x\n\n",
    "f_bom": "\ufeff" + HEADER + "\n" + ROWS[0] + "\n",
    "g_other_header": HEADER.replace("Ghi chú lạ", "Khác") + "\n" + ROWS[0] + "\nR5,x\n",
    "h_semicolons": HEADER.replace(",", ";") + "\n" + ROWS[0].replace(",", ";") + "\n",
}


def _opened(tmp_path, name: str, text: str):
    path = tmp_path / f"{name}.csv"
    path.write_text(text, encoding="utf-8")
    f = types.SimpleNamespace(
        file_id=len(name),
        dataset="vaccinations",
        spec=dataset_spec("vaccinations"),
        facility_code="17001",
        received_at=dt.datetime(2021, 11, 6, tzinfo=dt.UTC),
    )
    return f, path, parse.open_rows(path, "vaccinations")


def _rows(read: group_stage.Read) -> list[dict]:
    return pl.concat(read.frames, how="diagonal").to_dicts() if read.frames else []


@pytest.mark.parametrize("chunk", [None, 100], ids=["one-stack", "stacks-of-100-bytes"])
@pytest.mark.parametrize("files", [STREAMED, PLAIN_FILES], ids=["streamed", "plain-files"])
def test_files_read_as_one_stream_get_what_each_read_alone_gets(files, chunk, tmp_path, monkeypatch):
    opened = [(key, _opened(tmp_path, name, text)) for key, (name, text) in enumerate(sorted(files.items()))]
    stacks = []
    real = group_stage._stack_frames
    monkeypatch.setattr(
        group_stage, "_stack_frames", lambda files, *a: stacks.append(len(files)) or real(files, *a)
    )
    if chunk is not None:  # memory stays flat: at most this many bytes of lines read at once
        monkeypatch.setattr(group_stage, "STACK_BYTES", chunk)
    streamed = group_stage.read_stream(opened, References())
    if files is STREAMED:
        assert (len(stacks) > 3) == (chunk is not None), stacks
    for key, one in opened:
        alone = group_stage.read_opened(one[:2] + (parse.open_rows(one[1], "vaccinations"),), References())
        if key not in streamed:
            continue
        got = streamed[key]
        assert (got.rows, got.has_record_id, got.context) == (alone.rows, alone.has_record_id, alone.context)
        # the same columns in the same order (read alone, a last line without a line break is a batch of its own)
        assert {tuple(fr.columns) for fr in got.frames} == {tuple(fr.columns) for fr in alone.frames}, one[
            1
        ].name
        assert _rows(got) == _rows(alone), one[1].name
    names = {opened[key][1][1].stem for key in streamed}
    if files is STREAMED:
        assert names == set(STREAMED), names
        assert sum(streamed[k].rows for k in streamed) > 6
    else:  # the header not on the first line: read alone
        assert "sep_line_blank_lines_short_long" not in names
        assert "header_after_blank_and_empty_cells" not in names


def test_a_stack_with_a_line_the_split_would_misread_is_read_file_by_file(tmp_path):
    opened = [
        (0, _opened(tmp_path, "good", HEADER + "\n" + ROWS[0] + "\n")),
        (1, _opened(tmp_path, "quote_inside", HEADER + '\nR1,a"b,x\n')),
    ]
    assert group_stage.read_stream(opened, References()) == {}
    assert columnar.NATIVE_CSV
