"""Peak memory and time of reading a large XLSX with the contract reader (issue 17, item 7).

Run: ``.venv/bin/python -m bench.xlsx_memory [rows] [--address-chars N [--words K]] [--keep PATH]``. Writes a vaccinations workbook the way
Excel does (every text cell a shared string; ids, names and phones unique; 45 MB compressed at the default
500,000 rows) straight with zipfile (openpyxl would take minutes), then reads it in a child process each
way, one after the other, and prints peak RSS (the child's ``VmHWM``: its ``ru_maxrss`` would include the
parent's, which Linux carries across fork and exec) and seconds:

* ``openpyxl``: the reader before issue 17 (``openpyxl.load_workbook(read_only=True)``, its shared
  strings as one Python list), iterating ``values_only`` rows;
* ``contract``: :func:`covidsync.ingest.parse.open_rows` as the engine calls it (header matching, row
  numbers, text cleaning), its shared strings in a compact table spilled to a temporary file past
  ``COVIDSYNC_XLSX_STRINGS_MEMORY``;
* ``engine`` (``--ways engine``): the whole ``engine.process_file`` of the workbook in a fresh database on
  ``COVIDSYNC_TEST_WAREHOUSE_URL`` (read, type, COPY, rules, gate, merge, report): the task's peak.

The numbers go to docs/performance-log.md (issue 17 section). Note the load (``uptime``) beside them.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

HEADERS = [
    "Mã bản ghi",
    "Họ và tên",
    "Ngày sinh",
    "Giới tính",
    "Số CCCD/CMND",
    "Số điện thoại",
    "Mã tỉnh",
    "Mã huyện",
    "Mã xã",
    "Địa chỉ",
    "Tên vắc xin",
    "Số lô",
    "Mũi số",
    "Ngày tiêm",
    "Mã cơ sở",
]
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ"]
MIDDLE = ["Văn", "Thị", "Hữu", "Đức", "Thanh", "Minh", "Ngọc", "Quốc"]
GIVEN = [
    "An",
    "Bình",
    "Cường",
    "Dũng",
    "Hà",
    "Hòa",
    "Hùng",
    "Lan",
    "Mai",
    "Nam",
    "Phúc",
    "Quân",
    "Thảo",
    "Yến",
]
VACCINES = ["AstraZeneca", "Pfizer", "Moderna", "Vero Cell", "Sputnik V"]

CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>
<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>
<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>
</Types>"""
ROOT_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>
</Relationships>"""
WORKBOOK = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">
<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"""
WORKBOOK_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>
<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>
<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>
</Relationships>"""
# style 1: a date (numFmtId 14), as Excel writes a date cell
STYLES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>
<fills count="1"><fill><patternFill patternType="none"/></fill></fills>
<borders count="1"><border/></borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>
<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>
</styleSheet>"""


def _col(i: int) -> str:
    return chr(ord("A") + i)


WORDS = (
    "xóm thôn bản tổ khu phố đường ngõ ngách hẻm số nhà cạnh gần sau trước chợ trường trạm y tế xã phường "
    "thị trấn huyện thành phố tỉnh Hòa Bình Lạc Sơn Mai Châu Tân Lạc Kim Bôi Lương Sơn Cao Phong Đà Bắc Yên "
    "Thủy Lạc Thủy suối đồi núi cầu ruộng nương bản Mường Thái Dao Tày Kinh nhà văn hóa ủy ban nhân dân "
    "công an bưu điện ngân hàng bệnh viện đa khoa khu công nghiệp nhà máy xí nghiệp hợp tác xã"
).split()


def write_workbook(path: Path, rows: int, seed: int = 17, address_chars: int = 0, words: int = 0) -> dict:
    """A vaccinations workbook of ``rows`` data rows; returns its sizes. With ``address_chars``, every
    address is a unique text of about that many characters (words of an address drawn at random): the
    shared-strings table then outweighs the sheet, the case that took 2.9 GB before issue 17."""
    rng = random.Random(seed)
    strings: dict[str, int] = {}
    order: list[str] = []

    def sst(text: str) -> int:
        index = strings.get(text)
        if index is None:
            index = strings[text] = len(order)
            order.append(text)
        return index

    vocabulary = WORDS[:words] if words else WORDS  # fewer words compress better: a larger expanded size

    def address(n: int) -> str:
        if not address_chars:
            return f"Xóm {rng.randrange(5000)}, Hòa Bình"
        return f"{n} " + " ".join(rng.choices(vocabulary, k=address_chars // 5))[:address_chars]

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("xl/workbook.xml", WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        archive.writestr("xl/styles.xml", STYLES)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            head += '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            cells = "".join(f'<c r="{_col(i)}1" t="s"><v>{sst(h)}</v></c>' for i, h in enumerate(HEADERS))
            sheet.write((head + f'<row r="1">{cells}</row>').encode())
            buffer: list[str] = []
            for n in range(2, rows + 2):
                name = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)} {n:07d}"
                born = 25000 + rng.randrange(20000)  # an Excel date serial
                values = [
                    ("s", sst(f"R{n:09d}")),
                    ("s", sst(name)),
                    ("d", born),
                    ("s", sst(rng.choice(("Nam", "Nữ")))),
                    ("s", sst(f"0170{rng.randrange(10**8):08d}")),
                    ("s", sst(f"09{rng.randrange(10**8):08d}")),
                    ("n", 17),
                    ("n", 148),
                    ("s", sst("04789")),
                    ("s", sst(address(n))),
                    ("s", sst(rng.choice(VACCINES))),
                    ("s", sst(f"L{rng.randrange(300):04d}")),
                    ("n", rng.randrange(1, 4)),
                    ("d", 44440 + rng.randrange(200)),
                    ("s", sst("17001")),
                ]
                row = []
                for i, (kind, value) in enumerate(values):
                    ref = f"{_col(i)}{n}"
                    if kind == "s":
                        row.append(f'<c r="{ref}" t="s"><v>{value}</v></c>')
                    elif kind == "d":
                        row.append(f'<c r="{ref}" s="1"><v>{value}</v></c>')
                    else:
                        row.append(f'<c r="{ref}"><v>{value}</v></c>')
                buffer.append(f'<row r="{n}">{"".join(row)}</row>')
                if len(buffer) >= 5000:
                    sheet.write("".join(buffer).encode())
                    buffer.clear()
            sheet.write(("".join(buffer) + "</sheetData></worksheet>").encode())
        with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as table:
            table.write(
                (
                    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                    '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                    f'count="{len(order)}" uniqueCount="{len(order)}">'
                ).encode()
            )
            for start in range(0, len(order), 10000):
                table.write(
                    "".join(f"<si><t>{escape(s)}</t></si>" for s in order[start : start + 10000]).encode()
                )
            table.write(b"</sst>")
    with zipfile.ZipFile(path) as archive:
        expanded = sum(i.file_size for i in archive.infolist())
    return {
        "rows": rows,
        "bytes": path.stat().st_size,
        "expanded_bytes": expanded,
        "shared_strings": len(order),
    }


CHILD = """
import sys, time
path, way = sys.argv[1], sys.argv[2]
start = time.perf_counter()
n = 0
if way == "openpyxl":
    import openpyxl
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    for row in wb.worksheets[0].iter_rows(values_only=True):
        n += 1
    wb.close()
elif way == "engine":  # the whole per-file pipeline in a fresh database: read, stage, rules, gate, merge
    import os, shutil, tempfile
    from pathlib import Path
    from covidsync import db
    from covidsync.ingest import engine, landing
    admin = os.environ.get("COVIDSYNC_TEST_WAREHOUSE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"covidsync_bench_xlsx_{os.getpid()}"
    db.execute_autocommit(admin, db.create_database_sql(name))
    url = admin.rsplit("/", 1)[0] + "/" + name
    try:
        db.upgrade(url)
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["COVIDSYNC_DATA_DIR"] = tmp
            folder = Path(tmp) / "landing" / "17001" / "vaccinations"
            folder.mkdir(parents=True)
            (Path(tmp) / "landing" / "registry").mkdir()
            (Path(tmp) / "landing" / "registry" / "facilities.csv").write_text(
                "facility_code,name,facility_type,province_code,district_code,commune_code\\n"
                "17001,BV,provincial_hospital,17,148,04789\\n", encoding="utf-8")
            shutil.copy(path, folder / "v.xlsx")
            start = time.perf_counter()
            conn = db.connect(url)
            with conn:
                landing.load_registry(conn)
            (file_id,) = landing.register(conn).pending
            summary = engine.process_file(conn, file_id)
            n = summary["rows_total"]
            conn.close()
    finally:
        db.execute_autocommit(admin, f'drop database if exists "{name}" with (force)')
else:
    from covidsync.ingest.parse import open_rows
    with open_rows(path, "vaccinations") as stream:
        for number, values in stream:
            n += 1
# VmHWM, not ru_maxrss: Linux carries the parent's high-water mark across fork and exec into ru_maxrss
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(n, round(time.perf_counter() - start, 1), peak // 1024)
"""


def measure(path: Path, way: str) -> dict:
    env = dict(
        os.environ,
        COVIDSYNC_MAX_XLSX_EXPANDED_BYTES=str(512 * 1024 * 1024),
        COVIDSYNC_GX_DOCS="0",
        COVIDSYNC_MAX_REJECTED_SHARE="1",
    )
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), way], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode != 0:
        return {"way": way, "error": out.stderr.strip().splitlines()[-1:]}
    rows, seconds, peak = out.stdout.split()
    return {"way": way, "rows_read": int(rows), "seconds": float(seconds), "peak_rss_mib": int(peak)}


def main(argv: list[str]) -> None:
    rows = int(argv[0]) if argv and not argv[0].startswith("--") else 500_000
    keep = Path(argv[argv.index("--keep") + 1]) if "--keep" in argv else None
    address_chars = int(argv[argv.index("--address-chars") + 1]) if "--address-chars" in argv else 0
    words = int(argv[argv.index("--words") + 1]) if "--words" in argv else 0
    with tempfile.TemporaryDirectory() as tmp:
        path = keep or Path(tmp) / "vaccinations.xlsx"
        if not path.exists():
            started = time.perf_counter()
            info = write_workbook(path, rows, address_chars=address_chars, words=words)
            info["written_in_s"] = round(time.perf_counter() - started, 1)
        else:
            with zipfile.ZipFile(path) as archive:
                info = {
                    "bytes": path.stat().st_size,
                    "expanded_bytes": sum(i.file_size for i in archive.infolist()),
                }
        info["load"] = os.getloadavg()
        ways = argv[argv.index("--ways") + 1].split(",") if "--ways" in argv else ["contract", "openpyxl"]
        results = [measure(path, way) for way in ways]
    print(json.dumps({"file": info, "results": results}, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
