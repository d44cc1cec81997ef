//! Files handed to the browser to save: CSV (UTF-8, Excel-friendly) and XLSX.

use actix_web::http::header;
use actix_web::HttpResponse;

pub const CSV: &str = "text/csv; charset=utf-8";
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// A download named `file_name`, never cached by shared caches (it is someone's data).
pub fn file(content_type: &str, file_name: &str, body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file_name}\"")))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(body)
}

pub fn csv(file_name: &str, body: Vec<u8>) -> HttpResponse {
    file(CSV, file_name, body)
}

pub fn xlsx(file_name: &str, body: Vec<u8>) -> HttpResponse {
    file(XLSX, file_name, body)
}
