"""Dates and date-times (contract §2, domain notes §8.4)."""

import datetime as dt

import pytest

from covidsync.domain.dates import VN_TZ, from_excel_serial, parse_birth_date, parse_date, parse_datetime

PLUS7 = dt.timedelta(hours=7)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("01/02/2021", dt.date(2021, 2, 1)),  # day first: 1 February
        ("1/2/2021", dt.date(2021, 2, 1)),
        ("02/11/2021", dt.date(2021, 11, 2)),
        ("2/11/2021", dt.date(2021, 11, 2)),
        ("13/01/2021", dt.date(2021, 1, 13)),
        ("02-11-2021", dt.date(2021, 11, 2)),
        ("02.11.2021", dt.date(2021, 11, 2)),
        ("2021-11-02", dt.date(2021, 11, 2)),
        ("2021-1-2", dt.date(2021, 1, 2)),
        ("2021/11/02", dt.date(2021, 11, 2)),
        ("02112021", dt.date(2021, 11, 2)),  # ddmmyyyy
        ("01021990", dt.date(1990, 2, 1)),
        ("1112021", dt.date(2021, 11, 1)),  # ddmmyyyy that lost its leading 0
        ("  02/11/2021 ", dt.date(2021, 11, 2)),
        ("29/02/2020", dt.date(2020, 2, 29)),
        ("02/11/2021 00:00:00", dt.date(2021, 11, 2)),  # spreadsheet export of a date cell
        ("2021-11-02 00:00:00", dt.date(2021, 11, 2)),
        ("2021-11-01T20:00:00Z", dt.date(2021, 11, 2)),  # 03:00 on 2 Nov in Vietnam
        (dt.date(2021, 11, 2), dt.date(2021, 11, 2)),
        (dt.datetime(2021, 11, 2, 23, 59), dt.date(2021, 11, 2)),
    ],
)
def test_parse_date(value, expected):
    assert parse_date(value) == expected


@pytest.mark.parametrize(
    ("serial", "expected"),
    [
        (1, dt.date(1900, 1, 1)),
        (59, dt.date(1900, 2, 28)),
        (61, dt.date(1900, 3, 1)),  # after the phantom 29/02/1900
        (44197, dt.date(2021, 1, 1)),
        (44501, dt.date(2021, 11, 1)),  # 44197 + 304 days: 1 November 2021 (a Monday)
        (44502, dt.date(2021, 11, 2)),
        (44263, dt.date(2021, 3, 8)),  # campaign start
        (44501.0, dt.date(2021, 11, 1)),
        (44501.75, dt.date(2021, 11, 1)),  # a time of day does not change the date
        ("44501", dt.date(2021, 11, 1)),
        ("44501.0", dt.date(2021, 11, 1)),
        ("32874", dt.date(1990, 1, 1)),
    ],
)
def test_excel_serials(serial, expected):
    assert parse_date(serial) == expected


def test_excel_serial_arithmetic_against_a_fixed_epoch():
    # Independent check: from serial 61 on, day 0 is 1899-12-30.
    for serial in (61, 10000, 44197, 44501, 73050):
        assert parse_date(serial) == dt.date(1899, 12, 30) + dt.timedelta(days=serial)


def test_excel_serial_60_is_the_phantom_leap_day():
    with pytest.raises(ValueError):
        parse_date(60)


@pytest.mark.parametrize(
    "value",
    [
        "31/02/2021",
        "29/02/2021",
        "32/01/2021",
        "00/01/2021",
        "01/13/2021",  # month first is not read
        "12/31/2021",
        "2021-02-30",
        "31022021",
        "20211102",  # yyyymmdd is not a contract form (read as ddmmyyyy: month 21)
        "01/02/21",  # two-digit year
        "01/02-2021",  # mixed separators
        "01/02/1850",  # year out of range
        "01/02/2150",
        "2 Nov 2021",
        "hôm qua",
        "",
        "   ",
        None,
        0,
        -5,
        3000000,
        "123456",
        True,
        [2021, 11, 2],
        float("nan"),
        "02/11/2021 25:00",
        "02/11/2021 10:61",
    ],
)
def test_parse_date_rejects(value):
    with pytest.raises(ValueError):
        parse_date(value)


def test_error_messages_do_not_contain_the_value():
    for value in ("31/02/2021", "99/99/9999", "hôm qua", "01/02/1850"):
        with pytest.raises(ValueError) as excinfo:
            parse_date(value)
        assert value not in str(excinfo.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1987", (dt.date(1987, 1, 1), True)),
        (" 1987 ", (dt.date(1987, 1, 1), True)),
        ("1987.0", (dt.date(1987, 1, 1), True)),
        (1987, (dt.date(1987, 1, 1), True)),
        (1987.0, (dt.date(1987, 1, 1), True)),
        ("1900", (dt.date(1900, 1, 1), True)),
        ("2099", (dt.date(2099, 1, 1), True)),
        ("18/01/1987", (dt.date(1987, 1, 18), False)),
        ("01/01/1987", (dt.date(1987, 1, 1), False)),  # a full date is never "year only"
        ("18011987", (dt.date(1987, 1, 18), False)),
        ("1987-01-18", (dt.date(1987, 1, 18), False)),
        (dt.date(1987, 1, 18), (dt.date(1987, 1, 18), False)),
        (31795, (dt.date(1987, 1, 18), False)),  # Excel serial (5 digits)
        ("31795", (dt.date(1987, 1, 18), False)),
    ],
)
def test_parse_birth_date(value, expected):
    assert parse_birth_date(value) == expected


@pytest.mark.parametrize("value", ["1899", "2100", "0987", 1850, "31/02/1987", "", None])
def test_parse_birth_date_rejects(value):
    with pytest.raises(ValueError):
        parse_birth_date(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("02/11/2021 08:30", dt.datetime(2021, 11, 2, 8, 30)),
        ("2/11/2021 8:30", dt.datetime(2021, 11, 2, 8, 30)),
        ("02/11/2021 08:30:15", dt.datetime(2021, 11, 2, 8, 30, 15)),
        ("02-11-2021 23:59:59", dt.datetime(2021, 11, 2, 23, 59, 59)),
        ("02112021 08:30", dt.datetime(2021, 11, 2, 8, 30)),
        ("2021-11-02 08:30", dt.datetime(2021, 11, 2, 8, 30)),
        ("2021-11-02T08:30:00", dt.datetime(2021, 11, 2, 8, 30)),
        ("2021-11-02T08:30:00.250", dt.datetime(2021, 11, 2, 8, 30, 0, 250000)),
        ("02/11/2021", dt.datetime(2021, 11, 2)),  # bare date: 00:00 local
        ("2021-11-02", dt.datetime(2021, 11, 2)),
        (dt.date(2021, 11, 2), dt.datetime(2021, 11, 2)),
        (dt.datetime(2021, 11, 2, 8, 30), dt.datetime(2021, 11, 2, 8, 30)),
        (44502.5, dt.datetime(2021, 11, 2, 12, 0)),
        ("44502.25", dt.datetime(2021, 11, 2, 6, 0)),
        (44502 + (8 * 3600 + 30 * 60) / 86400, dt.datetime(2021, 11, 2, 8, 30)),  # rounded to the second
        (44502, dt.datetime(2021, 11, 2)),
    ],
)
def test_parse_datetime_without_offset_is_vietnam_time(value, expected):
    result = parse_datetime(value)
    assert result.tzinfo is not None
    assert result.utcoffset() == PLUS7
    assert result.replace(tzinfo=None) == expected
    assert result == expected.replace(tzinfo=VN_TZ)


@pytest.mark.parametrize(
    ("value", "utc"),
    [
        ("2021-11-02T08:30:00Z", dt.datetime(2021, 11, 2, 8, 30, tzinfo=dt.UTC)),
        ("2021-11-02T08:30:00z", dt.datetime(2021, 11, 2, 8, 30, tzinfo=dt.UTC)),
        ("2021-11-02T08:30:00+07:00", dt.datetime(2021, 11, 2, 1, 30, tzinfo=dt.UTC)),
        ("2021-11-02T08:30:00+0700", dt.datetime(2021, 11, 2, 1, 30, tzinfo=dt.UTC)),
        ("2021-11-02T08:30+07", dt.datetime(2021, 11, 2, 1, 30, tzinfo=dt.UTC)),
        ("2021-11-02T08:30:00-05:00", dt.datetime(2021, 11, 2, 13, 30, tzinfo=dt.UTC)),
        ("2021-11-02 08:30:00 +07:00", dt.datetime(2021, 11, 2, 1, 30, tzinfo=dt.UTC)),
    ],
)
def test_parse_datetime_with_offset(value, utc):
    result = parse_datetime(value)
    assert result == utc
    assert result.tzinfo is not None


def test_no_offset_equals_explicit_plus_seven():
    assert parse_datetime("02/11/2021 08:30") == parse_datetime("2021-11-02T08:30:00+07:00")
    assert parse_datetime("02/11/2021 08:30") == parse_datetime("2021-11-02T01:30:00Z")


def test_aware_datetime_objects_are_kept():
    aware = dt.datetime(2021, 11, 2, 1, 30, tzinfo=dt.UTC)
    assert parse_datetime(aware) is aware


@pytest.mark.parametrize(
    "value",
    [
        "02/11/2021 24:00",
        "02/11/2021 08:60",
        "02/11/2021 08:30:60",
        "31/02/2021 08:30",
        "2021-11-02T08:30:00+25:00",
        "2021-11-02T08",
        "02/11/2021 8h30",
        "",
        None,
        "01/02/21 08:30",
        object(),
    ],
)
def test_parse_datetime_rejects(value):
    with pytest.raises(ValueError):
        parse_datetime(value)


def test_from_excel_serial_rounds_to_the_second():
    assert from_excel_serial(44502 + 0.999999999) == dt.datetime(2021, 11, 3)
    assert from_excel_serial(44502.5) == dt.datetime(2021, 11, 2, 12)
