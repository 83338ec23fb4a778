"""Row and file codes of the facility contract (facility-files.md §6), with messages for facility clerks.

Every message says what is wrong and how to fix the row (or file), in Vietnamese (with full diacritics)
and in English. Messages never contain the offending value itself: reports show masked values in their
own column (contract §7).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ERROR", "FILE_CODES", "ROW_CODES", "ROW_CODES_ADDED", "WARNING", "Code", "lookup"]

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Code:
    code: str
    severity: str  # "error" | "warning"
    message_vi: str
    message_en: str


def _codes(*items: tuple[str, str, str, str]) -> dict[str, Code]:
    return {code: Code(code, severity, vi, en) for code, severity, vi, en in items}


ROW_CODES: dict[str, Code] = _codes(
    (
        "missing_required",
        ERROR,
        "Thiếu một giá trị bắt buộc. Hãy điền đầy đủ ô này rồi gửi lại dòng.",
        "A required value is empty. Fill in this cell and send the row again.",
    ),
    (
        "invalid_citizen_id",
        ERROR,
        "Số CCCD/CMND không hợp lệ: CCCD phải có đúng 12 chữ số, CMND cũ có 9 chữ số. "
        "Hãy nhập lại số đúng như trên thẻ, định dạng ô là Văn bản (Text) để không mất số 0 ở đầu.",
        "Invalid citizen ID: a CCCD has exactly 12 digits, an old CMND 9 digits. Enter the number as "
        "printed on the card, in a cell formatted as Text so the leading zero is kept.",
    ),
    (
        "unknown_province_in_id",
        ERROR,
        "3 chữ số đầu của số CCCD không phải mã tỉnh/thành phố nào. Hãy đối chiếu lại số CCCD trên thẻ.",
        "The first 3 digits of the CCCD are not a province code. Check the number against the card.",
    ),
    (
        "id_birth_year_mismatch",
        ERROR,
        "Năm sinh không khớp với số CCCD (chữ số thứ 4 và thứ 5–6 của CCCD cho biết năm sinh). "
        "Hãy kiểm tra lại ngày sinh hoặc số CCCD theo thẻ.",
        "The year of birth does not match the CCCD (its 4th and 5th–6th digits give the birth year). "
        "Check the date of birth or the CCCD against the card.",
    ),
    (
        "id_gender_mismatch",
        ERROR,
        "Giới tính không khớp với số CCCD (chữ số thứ 4 chẵn là Nam, lẻ là Nữ). "
        "Hãy kiểm tra lại giới tính hoặc số CCCD theo thẻ.",
        "The gender does not match the CCCD (an even 4th digit means male, odd means female). "
        "Check the gender or the CCCD against the card.",
    ),
    (
        "invalid_date",
        ERROR,
        "Không đọc được ngày/giờ. Hãy ghi ngày theo dạng dd/mm/yyyy (ngày trước, tháng sau), "
        "ví dụ 01/02/2021 là ngày 1 tháng 2; giờ theo dạng HH:MM.",
        "The date or time cannot be read. Write dates as dd/mm/yyyy (day first, then month), "
        "e.g. 01/02/2021 is 1 February; times as HH:MM.",
    ),
    (
        "future_date",
        ERROR,
        "Ngày này ở sau thời điểm tệp được nhận, tức là ngày trong tương lai. "
        "Hãy kiểm tra lại ngày (có thể nhầm ngày với tháng hoặc nhầm năm).",
        "This date is after the file was received, i.e. in the future. Check the date "
        "(day and month may be swapped, or the year wrong).",
    ),
    (
        "before_campaign",
        ERROR,
        "Ngày tiêm trước ngày 08/03/2021, khi chiến dịch tiêm chủng COVID-19 bắt đầu. Hãy kiểm tra lại ngày tiêm.",
        "The vaccination date is before 08/03/2021, when the COVID-19 vaccination campaign began. "
        "Check the vaccination date.",
    ),
    (
        "event_before_birth",
        ERROR,
        "Ngày tiêm/lấy mẫu ở trước ngày sinh. Hãy kiểm tra lại ngày sinh và ngày tiêm/lấy mẫu.",
        "The vaccination or sampling date is before the date of birth. Check both dates.",
    ),
    (
        "unknown_vaccine",
        ERROR,
        "Tên vắc xin không có trong danh mục (AstraZeneca, Pfizer-BioNTech, Moderna, Sputnik V, "
        "Vero Cell, Janssen, Hayat-Vax, Abdala). Hãy ghi đúng tên vắc xin đã tiêm.",
        "The vaccine is not on the list (AstraZeneca, Pfizer-BioNTech, Moderna, Sputnik V, Vero Cell, "
        "Janssen, Hayat-Vax, Abdala). Write the name of the vaccine given.",
    ),
    (
        "invalid_dose_number",
        ERROR,
        "Mũi số phải là một số từ 1 đến 4. Hãy sửa lại mũi tiêm.",
        "The dose number must be a whole number from 1 to 4. Correct the dose number.",
    ),
    (
        "invalid_admin_code",
        ERROR,
        "Mã tỉnh, mã huyện hoặc mã xã không tồn tại hoặc không thuộc đơn vị cấp trên "
        "(mã tỉnh 2 số, mã huyện 3 số, mã xã 5 số theo danh mục của Tổng cục Thống kê). Hãy sửa lại mã.",
        "The province, district or commune code does not exist or is not inside its parent unit "
        "(GSO codes: province 2 digits, district 3, commune 5). Correct the code.",
    ),
    (
        "invalid_test_type",
        ERROR,
        "Loại xét nghiệm không hợp lệ: chỉ nhận RT-PCR hoặc Test nhanh kháng nguyên (antigen). "
        "Hãy ghi lại loại xét nghiệm.",
        "Invalid test type: only RT-PCR or rapid antigen test (antigen) are accepted. Write the test type again.",
    ),
    (
        "invalid_result",
        ERROR,
        "Kết quả không hợp lệ: chỉ nhận Dương tính, Âm tính hoặc Không xác định. Hãy ghi lại kết quả.",
        "Invalid result: only positive, negative or invalid (Dương tính / Âm tính / Không xác định) are "
        "accepted. Write the result again.",
    ),
    (
        "invalid_ct_value",
        ERROR,
        "Giá trị CT phải là số từ 0 đến 45 và chỉ ghi cho xét nghiệm RT-PCR. "
        "Hãy sửa giá trị CT hoặc để trống với test nhanh.",
        "The CT value must be a number from 0 to 45 and only given for RT-PCR tests. "
        "Correct it, or leave it empty for an antigen test.",
    ),
    (
        "result_before_sample",
        ERROR,
        "Thời gian trả kết quả ở trước thời gian lấy mẫu. Hãy kiểm tra lại hai thời điểm này.",
        "The result time is before the sampling time. Check both times.",
    ),
    (
        "facility_mismatch",
        ERROR,
        "Mã cơ sở trong dòng khác với mã cơ sở của thư mục gửi tệp. "
        "Hãy sửa mã cơ sở hoặc gửi tệp vào đúng thư mục của cơ sở.",
        "The facility code in the row differs from the folder the file was sent to. "
        "Correct the code or send the file to the facility's own folder.",
    ),
    (
        "duplicate_in_file",
        ERROR,
        "Bản ghi này xuất hiện hai lần trong cùng một tệp (cùng mã bản ghi, hoặc cùng người và mũi tiêm, "
        "hoặc cùng người và mẫu). Hãy xóa dòng trùng.",
        "This record appears twice in the same file (same record ID, or same person and dose, or same "
        "person and sample). Remove the duplicate row.",
    ),
    (
        "invalid_qr_payload",
        ERROR,
        "Nội dung mã QR không đúng định dạng mã QR trên thẻ CCCD hay mã QR cá nhân. "
        "Hãy quét lại mã hoặc ghi số CCCD/số điện thoại.",
        "The QR content is neither a CCCD card QR nor a personal QR. Scan the code again or give the "
        "CCCD or phone number instead.",
    ),
    (
        "unknown_venue",
        ERROR,
        "Địa điểm quét mã chưa được đăng ký. Hãy đăng ký địa điểm trước hoặc sửa lại mã địa điểm.",
        "The check-in venue is not registered. Register the venue first or correct the venue code.",
    ),
    (
        "missing_person_key",
        ERROR,
        "Lượt quét không có thông tin nhận diện người dùng được (mã QR, số CCCD hoặc số điện thoại). "
        "Hãy bổ sung ít nhất một thông tin.",
        "The check-in has no usable way to identify the person (QR content, CCCD or phone). "
        "Add at least one of them.",
    ),
    (
        "invalid_phone",
        WARNING,
        "Số điện thoại không phải số di động Việt Nam hợp lệ (10 chữ số, bắt đầu bằng 03, 05, 07, 08, 09) "
        "nên đã bị bỏ qua; dòng vẫn được nhận. Hãy sửa số điện thoại nếu cần.",
        "The phone is not a valid Vietnamese mobile number (10 digits starting 03, 05, 07, 08 or 09), so it "
        "was dropped; the row was loaded. Correct the phone number if needed.",
    ),
    (
        "legacy_cmnd",
        WARNING,
        "Đây là số CMND cũ 9 chữ số; dòng vẫn được nhận. Hãy cập nhật số CCCD 12 chữ số nếu người này đã có.",
        "This is an old 9-digit CMND number; the row was loaded. Update it to the 12-digit CCCD if the "
        "person has one.",
    ),
    (
        "short_dose_interval",
        WARNING,
        "Mũi tiêm này cách mũi trước ngắn hơn khoảng cách tối thiểu của vắc xin; dòng vẫn được nhận. "
        "Hãy kiểm tra lại ngày tiêm, mũi số và tên vắc xin.",
        "This dose is sooner after the previous one than the vaccine allows; the row was loaded. "
        "Check the vaccination dates, dose numbers and vaccine names.",
    ),
    (
        "name_without_diacritics",
        WARNING,
        "Họ tên được viết không dấu; dòng vẫn được nhận. Hãy ghi họ tên tiếng Việt có dấu đúng như trên CCCD.",
        "The name is written without Vietnamese accents; the row was loaded. Write the name with its accents "
        "exactly as on the CCCD.",
    ),
)

# Row codes added after migration 0002 (whose ops.row_code rows are rendered from the codes above by
# covidsync.reference): code -> the number of the migration that inserts its ops.row_code row.
ROW_CODES_ADDED: dict[str, str] = {}

# Issue 20: the adoption feeds (adoption.md §3: app-user counts and population; future_date is the contract's).
ROW_CODES.update(
    _codes(
        (
            "invalid_count",
            ERROR,
            "Số lượng không hợp lệ: phải là số nguyên không âm (dân số lớn hơn 0), số người dùng hoạt động "
            "không được lớn hơn số người dùng đăng ký, số người có điện thoại thông minh không lớn hơn dân số. "
            "Hãy sửa lại con số (không dùng dấu phân cách hàng nghìn).",
            "Invalid count: it must be a whole number of at least 0 (a population above 0); active users may "
            "not exceed registered users, nor smartphone owners the population. Correct the figure (without "
            "thousands separators).",
        ),
        (
            "unknown_area",
            ERROR,
            "Mã địa bàn không phải mã tỉnh (2 số), mã huyện (3 số) hoặc mã xã (5 số) nào trong danh mục của "
            "Tổng cục Thống kê. Hãy sửa lại mã.",
            "The area code is no province (2 digits), district (3 digits) or commune (5 digits) code of the "
            "GSO list. Correct the code.",
        ),
    )
)
ROW_CODES_ADDED.update({"invalid_count": "0027", "unknown_area": "0027"})

FILE_CODES: dict[str, Code] = _codes(
    (
        "unsupported_format",
        ERROR,
        "Định dạng tệp không được hỗ trợ. Hãy gửi tệp .csv, .xlsx, .json hoặc .jsonl.",
        "Unsupported file format. Send a .csv, .xlsx, .json or .jsonl file.",
    ),
    (
        "undecodable_file",
        ERROR,
        "Không đọc được mã hóa ký tự của tệp. Hãy lưu tệp CSV với mã hóa UTF-8 (ví dụ trong Excel: "
        "“CSV UTF-8”) hoặc gửi tệp .xlsx.",
        "The file's character encoding cannot be read. Save the CSV as UTF-8 (in Excel: “CSV UTF-8”) "
        "or send an .xlsx file.",
    ),
    (
        "empty_file",
        ERROR,
        "Tệp không có dòng dữ liệu nào. Hãy kiểm tra và gửi lại tệp có dữ liệu.",
        "The file has no data rows. Check it and send a file with data.",
    ),
    (
        "missing_columns",
        ERROR,
        "Tệp thiếu cột bắt buộc. Hãy dùng đúng tên cột theo mẫu (tiếng Việt hoặc tiếng Anh) và gửi lại.",
        "The file lacks a required column. Use the column names of the template (Vietnamese or English) "
        "and send it again.",
    ),
    (
        "file_too_large",
        ERROR,
        "Tệp quá lớn để xử lý. Hãy chia thành nhiều tệp nhỏ hơn rồi gửi lại.",
        "The file is too large to process. Split it into several smaller files and send them again.",
    ),
    (
        "unknown_facility",
        ERROR,
        "Thư mục gửi tệp không phải của cơ sở đã đăng ký. Hãy đăng ký cơ sở hoặc gửi vào đúng thư mục mã cơ sở.",
        "The folder is not a registered facility. Register the facility or send the file to the folder of "
        "its facility code.",
    ),
    (
        "duplicate_file",
        ERROR,
        "Tệp này đã được gửi trước đó (nội dung giống hệt) nên không được nạp lại. Không cần gửi lại.",
        "This file was already sent (identical content), so it was not loaded again. No need to resend it.",
    ),
    (
        "file_replaced",
        ERROR,
        "Tệp đã bị thay bằng một phiên bản mới (cùng tên, nội dung khác) trước khi được đọc, nên phiên bản "
        "cũ không được nạp. Phiên bản mới được xử lý như một tệp mới. Nếu cần nạp cả phiên bản cũ, hãy gửi lại nó.",
        "The file was replaced by a new version (same name, other content) before it was read, so the earlier "
        "version was not loaded. The new version is processed as a new file. If the earlier version should "
        "be loaded too, send it again.",
    ),
    (
        "batch_rejected",
        ERROR,
        "Quá nhiều dòng bị lỗi nên cả tệp bị giữ lại, không dòng nào được nạp. "
        "Hãy sửa các lỗi trong báo cáo và gửi lại toàn bộ tệp.",
        "Too many rows have errors, so the whole file was held and nothing was loaded. Fix the errors in "
        "the report and send the whole file again.",
    ),
)


# -- issue 24: arrivals into the province (contract arrivals.md §4; migration 0025) -------------------------
ARRIVALS_ROW_CODES: dict[str, Code] = _codes(
    (
        "invalid_declaration_kind",
        ERROR,
        "Loại khai báo không hợp lệ: chỉ nhận “movement” (khai báo di chuyển nội địa) hoặc “health” "
        "(khai báo y tế). Hãy sửa cột loại khai báo rồi gửi lại dòng.",
        "Invalid declaration kind: only “movement” (domestic movement declaration) or “health” (health "
        "declaration). Correct the kind column and send the row again.",
    ),
    (
        "unknown_origin_area",
        WARNING,
        "Mã tỉnh/huyện/xã nơi đi không có trong danh mục hành chính 2021 hoặc không thuộc nhau; dòng vẫn được "
        "nhận, nơi đi được coi là chưa xác định (mức nguy cơ mặc định). Hãy kiểm tra lại mã nơi đi.",
        "The origin province, district or commune code is not in the 2021 list of units, or not within its "
        "parent; the row was loaded with the origin treated as unknown (default risk level). Check the "
        "origin codes.",
    ),
    (
        "destination_outside_province",
        WARNING,
        "Nơi đến không thuộc tỉnh Hòa Bình; tờ khai vẫn được nhận nhưng không được tính là người đến tỉnh. "
        "Hãy kiểm tra lại mã xã nơi đến nếu người này đến Hòa Bình.",
        "The destination is not in Hòa Bình; the declaration was loaded but is not counted as an arrival. "
        "Check the destination commune code if the person is coming to Hòa Bình.",
    ),
    (
        "invalid_risk_level",
        ERROR,
        "Dòng cấp độ dịch không hợp lệ: cấp độ phải từ 1 đến 4, mã địa bàn phải có trong danh mục hành chính "
        "2021, ngày kết thúc không được trước ngày bắt đầu. Hãy sửa dòng rồi gửi lại cả tệp.",
        "Invalid risk-level row: the level must be 1 to 4, the area code in the 2021 list of units, and the "
        "end date not before the start date. Correct the row and send the whole file again.",
    ),
    (
        "overlapping_risk_level",
        ERROR,
        "Hai dòng của cùng một địa bàn có thời gian hiệu lực chồng lên nhau với cấp độ khác nhau. Hãy sửa "
        "ngày hiệu lực để mỗi ngày chỉ có một cấp độ rồi gửi lại cả tệp.",
        "Two rows for the same area have overlapping periods with different levels. Correct the dates so "
        "that each day has one level and send the whole file again.",
    ),
    (
        "invalid_measure",
        ERROR,
        "Dòng biện pháp không hợp lệ: biện pháp hoặc nhóm đối tượng không nằm trong danh mục, hoặc ngày xét "
        "nghiệm nằm ngoài 1..số ngày. Hãy sửa dòng rồi gửi lại cả tệp.",
        "Invalid measures row: an unknown measure or category, or a test day outside 1..days. Correct the "
        "row and send the whole file again.",
    ),
)
ROW_CODES_ADDED.update(dict.fromkeys(ARRIVALS_ROW_CODES, "0025"))
ROW_CODES.update(ARRIVALS_ROW_CODES)
FILE_CODES.update(
    _codes(
        (
            "registry_rejected",
            ERROR,
            "Tệp danh mục có dòng lỗi nên bị từ chối toàn bộ; phiên bản trước vẫn được áp dụng. Hãy sửa mọi "
            "dòng lỗi trong báo cáo và gửi lại cả tệp.",
            "The registry file has rows with errors, so it was rejected whole; the previous version stays in "
            "force. Correct every row in the report and send the whole file again.",
        ),
    )
)


def lookup(code: str) -> Code:
    """The :class:`Code` for a row or file code; raises ``KeyError`` for an unknown code."""
    found = ROW_CODES.get(code) or FILE_CODES.get(code)
    if found is None:
        raise KeyError(code)
    return found


# -- issue 17 (hardening): row codes of migration 0022 (ROW_CODES_ADDED: see above) --------------------------
ROW_CODES_ADDED.update({"invalid_text": "0022", "time_out_of_window": "0022"})
ROW_CODES.update(
    _codes(
        (
            "invalid_text",
            ERROR,
            "Ô chữ này bắt đầu bằng =, +, -, @, dấu tab hoặc xuống dòng (giống một công thức bảng tính), "
            "hoặc chứa chữ bị lỗi mã hóa (ví dụ Nguyá»…n, Ä‘, Ă²). Hãy nhập lại họ tên, địa chỉ hoặc ghi chú "
            "đúng như trên giấy tờ, lưu tệp dạng CSV UTF-8 rồi gửi lại dòng.",
            "This text cell starts with =, +, -, @, a tab or a line break (like a spreadsheet formula), or "
            "holds text garbled by a wrong encoding (e.g. Nguyá»…n, Ä‘, Ă²). Type the name, address or note "
            "again as on the papers, save the file as CSV UTF-8 and send the row again.",
        ),
        (
            "time_out_of_window",
            ERROR,
            "Thời gian này nằm ngoài khoảng hợp lệ: trước ngày ra mắt ứng dụng (01/09/2021) hoặc sau thời "
            "điểm tệp được nhận quá mức lệch đồng hồ cho phép. Hãy kiểm tra lại ngày giờ (có thể nhầm năm, "
            "nhầm ngày với tháng, hoặc đồng hồ thiết bị sai).",
            "This time is outside the accepted window: before the app's launch (1 September 2021) or later "
            "than the allowed clock skew after the file was received. Check the date and time (a wrong year, "
            "day and month swapped, or a device clock that is wrong).",
        ),
    )
)
FILE_CODES.update(
    _codes(
        (
            "merge_failed",
            ERROR,
            "Tệp đã qua kiểm tra nhưng không nạp được vì một lỗi của hệ thống khi ghi dữ liệu; không dòng nào "
            "được nạp. Bộ phận vận hành đã được báo và sẽ xử lý lại tệp; không cần gửi lại trừ khi được yêu cầu.",
            "The file passed its checks but could not be loaded because of a system error while writing it; "
            "nothing was loaded. The operators have been told and will process it again; no need to resend "
            "it unless you are asked to.",
        ),
    )
)
