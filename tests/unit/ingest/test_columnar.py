"""The engine's column readers give exactly what the row-by-row readers gave, value for value: the cell
cleaning of the CSV reader, and each typed staging column of the facility datasets."""

from __future__ import annotations

import unicodedata

import polars as pl
import pytest

from covidsync.ingest import columnar, normalize, parse

NFD = unicodedata.normalize("NFD", "Nguyễn Thị Hòa")
CELLS = [
    "",
    " ",
    "abc",
    "  abc ",
    "a b",
    "\tx\n",
    "Nguyễn Văn An",
    NFD,
    f" {NFD} ",
    "\ufeffHòa",
    "Hòa\u200b",
    "x\x1c",
    "\x1fy",
    "\x00",
    "a\x85",
    "\u3000Hòa\u3000",
    "017090001234",
    "line one\nline two",
    '"quoted"',
]


def test_cells_are_cleaned_as_the_row_reader_cleans_them():
    series = pl.Series("c", [*CELLS, None], dtype=pl.String)
    expected = [parse._csv_text(v) if v else None for v in CELLS] + [None]
    assert columnar.clean_text(series).to_list() == expected


def test_columns_cleaned_together_are_cleaned_as_each_alone():
    """clean_columns (a small file's columns in three queries) gives clean_text's text for each column: ASCII
    columns, columns with cells to normalise or strip, empty and all-null columns."""
    n = len(CELLS) + 1
    cells = pl.DataFrame(
        {
            "c0": [*CELLS, None],
            "c1": ["abc", "017090001234", None, " 12 ", *["x"] * (n - 4)],
            "c2": [None] * n,
            "c3": ["Hòa", NFD, *["Bình"] * (n - 2)],
            "c4": [""] * n,
        },
        schema={f"c{i}": pl.String for i in range(5)},
    )
    columns = [(f"c{i}", f"name{i}") for i in range(5)]
    together = columnar.clean_columns(cells, columns)
    assert list(together) == [name for _, name in columns]
    for source, name in columns:
        alone = columnar.clean_text(cells[source].rename(name))
        assert together[name].name == name and together[name].to_list() == alone.to_list(), name
    assert together["name0"].to_list() == [parse._csv_text(v) if v else None for v in CELLS] + [None]


def _typed(fn, values):
    return [columnar._cell(fn(v)) if v is not None else None for v in values]


READER_CASES = [
    (
        "citizen_id",
        (),
        normalize._citizen_id,
        [
            "017090001234",
            "17090001234",
            "87084000999",
            "123456789",
            "0170 9000 1234",
            "1.7090001234E10",
            "17090001234.0",
            "abc",
            "０１７",
            None,
        ],
    ),
    (
        "phone",
        (),
        lambda v: normalize.phone.normalize_phone(v),
        [
            "0912345678",
            "912345678",
            "+84 912 345 678",
            "01695678945",
            "0084912345678",
            "84912345678",
            "02183855555",
            "0912.345.678",
            "x",
            None,
        ],
    ),
    (
        "digits",
        (5,),
        lambda v: normalize._digits(v, 5),
        ["4789", "04789", "4789.0", "123456", "ab", None],
    ),
    ("pad", (2,), lambda v: normalize.admin.pad_code(v, 2), ["7", "17", " 7 ", "x", None]),
    (
        "date",
        (),
        normalize._date,
        [
            "01/09/2021",
            "2021-09-01",
            "44440",
            "32/01/2021",
            "29/02/2021",
            "29/02/2020",
            "01/01/1899",
            "31/12/2099",
            "01/01/2100",
            "2021-13-01",
            "1/9/2021",
            "01.09.2021",
            "01092021",
            None,
        ],
    ),
    (
        "datetime",
        (),
        normalize._datetime,
        [
            "20/11/2021 08:00",
            "20/11/2021 08:00:59",
            "31/12/2099 23:59",
            "01/01/2100 00:00",
            "01/01/1975 08:00",  # Asia/Ho_Chi_Minh was not UTC+07:00 then: the domain function's answer
            "01/01/1976 08:00",
            "29/02/2021 08:00",
            "20/11/2021 24:00",
            "20/11/2021 23:60",
            "20/11/2021 8:00",
            "2021-11-20T08:00:00+07:00",
            "2021-11-20T01:00:00Z",
            "44520.5",
            "x",
            None,
        ],
    ),
    ("int", (), normalize.as_int, ["1", "2.0", "-3", "1.5", "99999999999", "x", None]),
    ("float", (), normalize.as_float, ["25,5", "30", "nan", "1e12", "x", None]),
    ("gender", (), normalize.text.normalize_gender, ["Nam", "nữ", "NU", "F", "male", "?", None]),
    ("vaccine", (), normalize._vaccine, ["AstraZeneca", "Vero Cell", "pfizer", "xyz", None]),
    (
        "word",
        ("results",),
        lambda v: normalize._word(normalize.RESULTS, v),
        ["Dương tính", "âm tính", "POSITIVE", "?", None],
    ),
]


@pytest.mark.parametrize(("reader", "args", "fn", "values"), READER_CASES)
def test_each_reader_gives_the_row_readers_value(reader, args, fn, values):
    series = pl.Series("v", values, dtype=pl.String)
    assert columnar.READERS[reader](series, *args).to_list() == _typed(fn, values)


def test_birth_gives_the_date_and_whether_only_a_year_was_sent():
    values = ["15/03/1990", "1990-03-15", "31/02/1990", "01/01/1899", "1990", "1990.0", "0", "x", None]
    dates, years = columnar.read_birth(pl.Series("v", values, dtype=pl.String))
    pairs = [normalize._birth(v) for v in values]
    assert dates.to_list() == [columnar._cell(d) for d, _ in pairs]
    assert years.to_list() == [columnar._cell(y) for _, y in pairs]


def test_raw_values_are_the_json_of_what_was_sent():
    import json

    frame = pl.DataFrame(
        {
            "a": [None, "x", 'say "hi", ok', None],
            "b": [None, None, 'tricky ,"a":null', "\\ back"],
            "c": ["Hòa\nline", None, "null", None],
        }
    )
    raw = frame.select(columnar.raw_json(["a", "b", "c"]))[:, 0].to_list()
    expected = [{k: v for k, v in row.items() if v is not None} for row in frame.iter_rows(named=True)]
    assert [json.loads(r) for r in raw] == expected


def test_qr_payloads_split_as_columns_say_what_the_domain_parser_says():
    """The payloads the column expressions take give exactly payload_facts' answer; the others are left
    to the domain parser (masked numbers, NFD names, stray spaces, impossible dates, other layouts)."""
    from covidsync.ingest import checkins

    nfd = unicodedata.normalize("NFD", "Nguyễn Thị Hòa")
    payloads = [
        "017190001234|123456789|Bùi Văn Nam|05031990|Nam|Xóm Mít, Hòa Bình|15072021",
        "017185004321||Bùi Thị Hoa|01021985|Nữ|Phương Lâm|",
        f"017185004321||{nfd}|01021985|Nữ|Phương Lâm|01032021",
        "017190001234||Bùi  Văn Nam|05031990|Nam||",
        "017190001234||Bùi Văn Nam|31021990|Nam||",
        "017190001234||Bùi Văn Nam|05031990|Nu||",
        "017190001234||Bùi Văn Nam|05031990|Nam||15132021",
        "017090001111|BUI XUAN QUAN|1990-06-23|0|183471582224943384|<1<HS4010120878821<0398474790",
        "******907442|HOANG THI KIM HOA|2003-**-**|0|339395218978978988|<2<<0945376247",
        "012345678|LE VAN BA|1970-01-02|1|555000111222333444|<1<<",
        "|LE VAN BA||0|555000111222333444|",
        "|LE VAN BA|1970-02-30|0|555000111222333444|<3",
        "|LE VAN BA|1970-01-02|2|555000111222333444|",
        "017090001111|BUI XUAN QUAN|1890-06-23|0|183471582224943384|<1<<01695678945",
        " 017090001111|BUI XUAN QUAN|1990-06-23|0|183471582224943384|\r\n",
        "017190001234|Bùi Văn Nam|05031990|Nam|Xóm Mít|15072021",
        "garbage",
    ]
    fast, slow = checkins._fast_payload_table(pl.Series(payloads))
    assert fast.height == 5, "the common shapes are taken by the column expressions"
    expected = checkins._payload_table(pl.Series(payloads)).filter(
        pl.col("qr_payload").is_in(fast["qr_payload"].implode())
    )
    assert fast.sort("qr_payload").equals(expected.sort("qr_payload").select(fast.columns))
    assert sorted([*fast["qr_payload"], *slow]) == sorted(payloads), "every payload answered once"


def test_masked_personal_qrs_split_as_columns_say_what_the_domain_parser_says():
    """With ``masked`` (what the stage uses), personal QRs with a masked document number or date of birth are
    read by the column expressions too, each with exactly payload_facts' answer: the masked number is never
    a key, a masked date gives no date, an unmasked year still gives the birth year; a masked payload that
    breaks a rule (a letter beside the stars, more than 20 characters, a half-masked year, an impossible
    unmasked date) is left to the domain parser."""
    from covidsync.ingest import checkins

    payloads = [
        "******907442|HOANG THI KIM HOA|2003-**-**|0|339395218978978988|<2<<0945376247",
        "******907442|HOANG THI KIM HOA|****-**-**|1|339395218978978988|<1<<",
        "*********|LE VAN BA|1970-**-02|0|555000111222333444|<0<X<0912345678",
        "***|LE VAN BA|1970-05-**|0|555000111222333444|",
        "12345*******|LE VAN BA|1970-13-**|0|555000111222333444|<2<<01695678945",
        "**********************|LE VAN BA|1970-**-**|0|555000111222333444|",
        "********************|LE VAN BA|1970-**-**|0|555000111222333444|",
        "****A*907442|HOANG THI KIM HOA|2003-**-**|0|339395218978978988|",
        "******907442|HOANG THI KIM HOA|20*3-**-**|0|339395218978978988|",
        "******907442|HOANG THI KIM HOA|2003-02-30|0|339395218978978988|",
        "******907442|HOANG THI KIM HOA|0000-**-**|0|339395218978978988|",
        "******907442| HOANG THI KIM HOA|2003-**-**|0|339395218978978988|",
        "******907442||2003-**-**|0|339395218978978988|<2",
        "017090001111|BUI XUAN QUAN|1990-06-23|0|183471582224943384|<1<HS4010120878821<0398474790",
        "017090001111|BUI XUAN QUAN|1990-**-**|0|183471582224943384|<1<<0398474790",
        "012345678|LE VAN BA|1970-01-02|1|555000111222333444|<1<<",
        "|LE VAN BA|1970-**-**|0|555000111222333444|",
    ]
    plain, _ = checkins._fast_payload_table(pl.Series(payloads))
    fast, slow = checkins._fast_payload_table(pl.Series(payloads), masked=True)
    assert plain.height == 2, "without masked, the masked payloads are the domain parser's as before"
    assert set(slow) == {
        "**********************|LE VAN BA|1970-**-**|0|555000111222333444|",
        "****A*907442|HOANG THI KIM HOA|2003-**-**|0|339395218978978988|",
        "******907442|HOANG THI KIM HOA|20*3-**-**|0|339395218978978988|",
        "******907442|HOANG THI KIM HOA|2003-02-30|0|339395218978978988|",
        "******907442| HOANG THI KIM HOA|2003-**-**|0|339395218978978988|",
    }
    expected = checkins._payload_table(pl.Series(payloads)).filter(
        pl.col("qr_payload").is_in(fast["qr_payload"].implode())
    )
    assert fast.sort("qr_payload").equals(expected.sort("qr_payload").select(fast.columns))
    assert sorted([*fast["qr_payload"], *slow]) == sorted(payloads), "every payload answered once"


HEADER = "Mã bản ghi,Họ và tên,Ngày sinh,Giới tính,Số CCCD/CMND,Mã tỉnh,Mã huyện,Mã xã,Tên vắc xin,Số lô,Mũi số,Ngày tiêm,Ghi chú lạ"
PLAIN_FILES = {
    "crlf_no_final_newline": "\r\n".join(
        [HEADER, "R1,Nguyễn Văn A,01/02/1990,001090000001,05/11/2021,Pfizer,1,L1,x", "R2, B ,,,,,,,"]
    ),
    "sep_line_blank_lines_short_long": "\n".join(
        [
            "sep=,",
            "",
            HEADER,
            "",
            "R1,An,1990,12345678901,2021-11-05,AZ,2,L2",
            ",,,,,,,,,note only",
            ",,,",
            "R3," + "y" * 50 + ",a,b,c,d,e,f,g,h,i,j",
            "",
        ]
    ),
    "semicolon_bom_nfd": "\ufeff"
    + "\n".join(
        [
            HEADER.replace(",", ";"),
            "R1;" + unicodedata.normalize("NFD", "Trần Thị Ánh") + ";\u200b01/02/1990 ;;;Moderna;1;L3;",
            "\t;\t;",
        ]
    ),
    "quoted_cells": "\n".join(
        [
            '"Mã bản ghi",' + HEADER.split(",", 1)[1],
            'R1,"Trần, Văn ""Tí""",01/02/1990,Nam,"001090000001",17,"",,"Xóm 0, Xã Định Cư",AZ,L1,1,05/11/2021,"a;b"',
            '"",",",,,,,,,,,,,,""',
            'R2,"",x',
        ]
    ),
    "header_after_blank_and_empty_cells": "\n\n,,,\n"
    + HEADER
    + "\n"
    + "R9,Lê C,31/02/1990,0123,01/13/2021,Sinovac,x,,\n",
}


@pytest.mark.parametrize("name", sorted(PLAIN_FILES))
def test_a_csv_without_quotes_is_read_natively_as_the_csv_module_reads_it(name, tmp_path, monkeypatch):
    path = tmp_path / f"{name}.csv"
    path.write_bytes(PLAIN_FILES[name].encode("utf-8-sig" if "bom" in name else "utf-8"))
    assert columnar._plain_csv(path, parse.open_rows(path, "vaccinations").encoding)

    def read(native: bool, batch_rows: int) -> list:
        monkeypatch.setattr(columnar, "NATIVE_CSV", native)
        monkeypatch.setattr(columnar, "_NATIVE_CHUNK", 64)  # chunks cut between lines
        frames = list(
            columnar.csv_batches(path, parse.open_rows(path, "vaccinations"), "vaccinations", batch_rows)
        )
        return pl.concat(frames, how="diagonal").to_dicts() if frames else []

    expected = read(False, 1000)
    assert expected, "the file has rows"
    assert read(True, 1000) == expected
    assert read(True, 2) == expected


@pytest.mark.parametrize(
    "content",
    ['a,b"c\n', 'a,"b"c\n', 'a,"b\nc"\n', 'a, "b"\n', "a,b\rc,d\n", "a,b\r", "x," + "y" * 200_000 + "\n"],
    ids=[
        "quote_inside",
        "after_closing_quote",
        "line_break_in_quotes",
        "space_before_quote",
        "cr",
        "final_cr",
        "long",
    ],
)
def test_a_csv_the_split_would_misread_takes_the_csv_module(content, tmp_path):
    path = tmp_path / "f.csv"
    path.write_text(content, encoding="utf-8")
    assert not columnar._plain_csv(path, "utf-8")
    assert not columnar._plain_csv(path, "cp1258")


@pytest.mark.parametrize("height", [0, 1, 40])
def test_a_batch_typed_at_once_gives_each_readers_own_values(height):
    """typed() runs every column's reader in three queries for the whole batch (e22-typing): each column is
    what its READERS function gives for it alone, the birth pair too, text as sent, for an empty batch, a
    batch of one row and a batch whose columns hold every case above (repeated values, nulls)."""
    from covidsync.ingest.spec import DatasetSpec, Typed

    cases = [(reader, args, values) for reader, args, _, values in READER_CASES]
    birth = ["15/03/1990", "1990-03-15", "31/02/1990", "01/01/1899", "1990", "1990.0", "0", "x", None]
    columns = {f"v{i}": values for i, (_, _, values) in enumerate(cases)}
    columns["born"] = birth
    columns["name"] = ["Hòa", None, "An"]
    frame = pl.DataFrame(
        {name: [values[at % len(values)] for at in range(height)] for name, values in columns.items()},
        schema={name: pl.String for name in columns},
    ).with_columns(pl.int_range(1, height + 1, dtype=pl.Int64).alias("row_number"))
    staging = [Typed(f"t{i}", reader, source=f"v{i}", args=args) for i, (reader, args, _) in enumerate(cases)]
    staging += [Typed("born", "birth", outputs=("dob", "year_only")), Typed("name")]
    spec = DatasetSpec(name="x", table="x", columns=(), staging=tuple(staging), keep_raw=False)
    out = columnar.typed(spec, frame, 7)
    assert out.columns == [
        "file_id",
        "row_number",
        *[f"t{i}" for i in range(len(cases))],
        "dob",
        "year_only",
        "name",
    ]
    assert out["file_id"].to_list() == [7] * height
    for i, (reader, args, _) in enumerate(cases):
        assert out[f"t{i}"].to_list() == columnar.READERS[reader](frame[f"v{i}"], *args).to_list(), reader
    dates, years = columnar.read_birth(frame["born"])
    assert out["dob"].to_list() == dates.to_list() and out["year_only"].to_list() == years.to_list()
    assert out["name"].to_list() == frame["name"].to_list()
    assert all(out[c].dtype == pl.String for c in out.columns[2:])


def test_the_characters_taken_as_nfc_without_normalising_leave_any_text_nfc():
    """NFC_SAFE: each character is its own NFC, no combining mark, and the second character of no
    canonical composition, so that a text of these alone is NFC whatever stands beside them (clean_columns
    keeps such a cell without normalising it)."""
    seconds = set()
    for cp in range(0x110000):
        decomposition = unicodedata.decomposition(chr(cp))
        if decomposition and not decomposition.startswith("<") and len(decomposition.split()) == 2:
            seconds.add(int(decomposition.split()[1], 16))
    safe = [chr(cp) for cp in range(0x3000) if _nfc_safe(chr(cp))]
    assert len(safe) == 0x250 + 0x100
    for c in safe:
        assert unicodedata.normalize("NFC", c) == c and not unicodedata.combining(c), hex(ord(c))
        assert ord(c) not in seconds, hex(ord(c))


def _nfc_safe(c: str) -> bool:
    return pl.Series([c]).str.contains(f"^[{columnar.NFC_SAFE}]$").item()


def test_cells_of_text_that_is_not_nfc_or_not_latin_are_cleaned_by_the_row_reader():
    cells = ["Hòa", NFD, "e\u0301", "\u1100\u1161", "東京", "Ωmega", " Ω ", "A\u030a", "\u00c5"]
    series = pl.Series("c", cells, dtype=pl.String)
    assert columnar.clean_text(series).to_list() == [parse._csv_text(v) for v in cells]


@pytest.mark.parametrize(
    "data", [b"", b"a", b"\n", b"ab\n", b"\nabc", b"a\nbb\nccc", b"abc\n\n", b"\r\n\r\n"]
)
def test_the_longest_line_is_the_split_lines_longest(data):
    assert columnar._longest_line(data) == max(map(len, data.split(b"\n")))


def test_repeats_give_the_rows_that_grouping_every_rows_hash_at_the_end_gives():
    """_Repeats (e31-vacc): batch by batch, which rows repeat an earlier row's key, and at the end every row of
    a repeated key and the first rows of repeated keys that went to core: the same as the frame of every row's
    hash grouped at the end (``is_duplicated``), which it replaced, on random batches with repeats across and
    within batches, rows without a key, and staged rows."""
    import numpy as np

    rng = np.random.default_rng(11)
    for _ in range(60):
        repeats, model, frames, row = columnar._Repeats(), set(), [], 1
        for _ in range(int(rng.integers(1, 7))):
            n = int(rng.integers(0, 200))
            hashes = rng.integers(0, int(rng.integers(1, 400)), n).astype(np.uint64)
            valid = rng.random(n) < 0.9
            numbers = np.arange(row, row + n, dtype=np.int64)
            row += n + int(rng.integers(0, 3))  # row numbers with gaps, as a file's skipped lines leave
            expected = []
            for h, ok in zip(hashes.tolist(), valid.tolist(), strict=True):
                expected.append(ok and h in model)
                if ok:
                    model.add(h)
            hit = repeats.again(hashes, valid)
            assert hit.tolist() == expected
            staged = hit | (rng.random(n) < 0.1)  # a repeat is always staged; some other rows are too
            repeats.record(numbers, staged)
            frames.append(
                pl.DataFrame(
                    {"row_number": numbers, "h": hashes, "valid": valid, "core": ~staged},
                    schema={"row_number": pl.Int64, "h": pl.UInt64, "valid": pl.Boolean, "core": pl.Boolean},
                )
            )
        every = pl.concat(frames).filter(pl.col("valid"))
        repeated = every.filter(pl.col("h").is_duplicated())
        assert repeats.rows().tolist() == sorted(repeated["row_number"].to_list())
        assert repeats.core_firsts().tolist() == sorted(
            repeated.filter(pl.col("core"))["row_number"].to_list()
        )
        assert (np.diff(repeats.sorted.astype(np.float64)) > 0).all(), "each hash stored once"


def test_leads_are_the_first_rows_of_keys_new_to_the_file_that_repeat_in_their_batch():
    """_Repeats.leads (e40-vacc): after again(), the first row of each key that is new to the file and comes
    again later in the same batch (staged with the batch instead of written to core and moved back); a key
    seen in an earlier batch has no lead (its rows are repeats), nor does a key once in its batch. Staging
    the leads leaves no first row in core for a key whose rows all come in one batch."""
    import numpy as np

    rng = np.random.default_rng(40)
    for _ in range(60):
        repeats, seen, row, batch_of = columnar._Repeats(), set(), 1, {}
        for b in range(int(rng.integers(1, 6))):
            n = int(rng.integers(0, 150))
            hashes = rng.integers(0, int(rng.integers(1, 300)), n).astype(np.uint64)
            valid = rng.random(n) < 0.9
            keys = [h if ok else None for h, ok in zip(hashes.tolist(), valid.tolist(), strict=True)]
            expected = [
                k is not None and k not in seen and keys.index(k) == i and keys.count(k) > 1
                for i, k in enumerate(keys)
            ]
            hit = repeats.again(hashes, valid)
            lead = repeats.leads(n)
            assert lead.tolist() == expected
            assert not (lead & hit).any(), "a lead is not a repeat"
            staged = hit | lead | (rng.random(n) < 0.1)
            repeats.record(np.arange(row, row + n, dtype=np.int64), staged)
            for k in keys:
                if k is not None:
                    batch_of.setdefault(k, set()).add(b)
            seen.update(k for k in keys if k is not None)
            row += n
        # a first row still in core is only ever that of a key that came again in a later batch
        assert len(repeats.core_firsts()) <= sum(1 for bs in batch_of.values() if len(bs) > 1)


def test_seen_marks_each_key_seen_at_an_earlier_row_of_the_file():
    """_Seen.again (the direct path's repeated keys, batch by batch) against a set of the keys so far."""
    import numpy as np

    rng = np.random.default_rng(7)
    for _ in range(50):
        seen, model = columnar._Seen(), set()
        for _ in range(int(rng.integers(1, 6))):
            n = int(rng.integers(0, 200))
            hashes = rng.integers(0, int(rng.integers(1, 300)), n).astype(np.uint64)
            valid = rng.random(n) < 0.9
            expected = []
            for h, ok in zip(hashes.tolist(), valid.tolist(), strict=True):
                expected.append(ok and h in model)
                if ok:
                    model.add(h)
            assert seen.again(hashes, valid).tolist() == expected
            assert (np.diff(seen.sorted.astype(np.float64)) >= 0).all()
