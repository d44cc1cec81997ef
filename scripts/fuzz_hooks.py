"""Schemathesis hooks for scripts/fuzz_api.sh: bodies for the CSV uploads and the raw image
upload, which schemathesis cannot serialise by itself."""

import schemathesis


def _text(value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return str(value).encode()


def _binary(value):
    if isinstance(value, (bytes, str)):
        return _text(value)
    if isinstance(value, list):
        return bytes(int(v) % 256 for v in value if isinstance(v, (int, float)))
    return str(value).encode()


@schemathesis.serializer("text/csv")
class CsvSerializer:
    def as_requests(self, context, value):
        return {"data": _text(value)}

    def as_werkzeug(self, context, value):
        return {"data": _text(value)}


class ImageSerializer:
    def as_requests(self, context, value):
        return {"data": _binary(value)}

    def as_werkzeug(self, context, value):
        return {"data": _binary(value)}


for _media_type in ("image/jpeg", "image/png", "image/webp"):
    schemathesis.serializer(_media_type)(ImageSerializer)


# ---- aiming three in four generated requests at live data ----
#
# scripts/fuzz_fixtures.py prepared, for each role, objects it may act on (FUZZ_FIXTURES, a
# JSON file; FUZZ_ROLE names the role of this run). For the operations below, each generated
# case is either left as generated (one in four) or rewritten into a well-formed
# request aimed at those objects (Hypothesis also draws the index of the object and the small
# numbers), so the fuzzer reaches the code behind validation and lookups. A role aiming at
# another role's objects is refused, as it should be: that is tested too.

import base64
import hashlib
import hmac
import itertools
import json
import os
import struct
import time
import zlib

from hypothesis import strategies as st

_FIX = None
if os.environ.get("FUZZ_FIXTURES"):
    with open(os.environ["FUZZ_FIXTURES"]) as f:
        _FIX = json.load(f)
_ROLE = os.environ.get("FUZZ_ROLE", "anonymous")
_COUNTER = itertools.count(1)


def _common(name, default=()):
    return (_FIX or {}).get("common", {}).get(name, default)


def _mine(name, default=()):
    roles = (_FIX or {}).get("roles", {})
    if name in roles.get(_ROLE, {}):
        return roles[_ROLE][name]
    for other in roles.values():  # not this role's: it should be refused
        if name in other:
            return other[name]
    return default


def _pick(values, n, default=1):
    values = list(values)
    return values[n % len(values)] if values else default


def _png():
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes([40, 160, 60]) * 16 for _ in range(16))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _sign(body):
    key = bytes.fromhex(os.environ.get("FUZZ_SECRET_KEY", ""))
    secret = hashlib.sha256(b"aidmart sandbox gateway webhook secret" + key).digest()
    t = int(time.time())
    mac = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def _later(days):
    """A UTC time `days` from now, as the API takes it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + days * 86400))


def _sku_code(n):
    return _pick(_mine("sku_codes") or [s["code"] for s in _common("skus")], n, "GY-QUINOA-1KG")


def _order_body(n):
    body = {"lines": [{"sku_id": _pick(_mine("skus") or [s["id"] for s in _common("skus")], n),
                       "quantity": 1 + n % 3}],
            "address": _common("address", {}), "points": 0}
    if _ROLE in ("union", "canteen"):
        when = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 3 * 86400))
        body["account"] = {"org_id": _mine("org"), "delivery_date": when}
    return body


def _schedule_body(n):
    return {"cadence": _pick(["weekly", "fortnightly"], n),
            "first_delivery": time.strftime("%Y-%m-%d", time.gmtime(time.time() + (3 + n % 20) * 86400)),
            "end_date": time.strftime("%Y-%m-%d", time.gmtime(time.time() + 60 * 86400)), "lead_days": 2,
            "lines": [{"sku_id": _pick(_mine("skus") or [s["id"] for s in _common("skus")], n),
                       "quantity": 1 + n % 5}],
            "address": _common("address", {})}


def _org(case, n):
    case.path_parameters["id"] = _mine("org", 2)


def _set(path=None, query=None, body=None, media=None, headers=None):
    """A rewrite: fixed path parameters, query and body, each a function of n (the draw)."""

    def apply(case, n):
        for k, f in (path or {}).items():
            case.path_parameters[k] = f(n)
        if query is not None:
            case.query = query(n)
        if body is not None:
            case.body = body(n)
        if media is not None:
            case.media_type = media
        if headers is not None:
            case.headers = {**(case.headers or {}), **headers(case, n)}

    return apply


def _csv(text):
    return lambda n: text(n)


_today = lambda: time.strftime("%Y-%m-%d")  # noqa: E731


def _store_today():
    import datetime
    import zoneinfo
    zone = zoneinfo.ZoneInfo(os.environ.get("AIDMART_TIMEZONE") or "Asia/Shanghai")
    return datetime.datetime.now(zone).date().isoformat()
_month = lambda: time.strftime("%Y-%m")  # noqa: E731
_uniq = lambda: next(_COUNTER)  # noqa: E731

_AIM = {
    "POST /flash-sales": _set(body=lambda n: {
        "sku_id": _common("flash_sku", 1), "price": f"{1 + n % 50}.90", "quantity": 1 + n % 5,
        "per_buyer_limit": 1 + n % 2,
        "starts_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60 + (n % 3) * 3600)),
        "ends_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 4 * 3600))}),
    "GET /flash-sales/{id}": _set(path={"id": lambda n: _pick(_common("flash_sales"), n)}),
    "POST /flash-sales/{id}/orders": _set(path={"id": lambda n: _pick(_common("flash_sales"), n)},
                                          body=lambda n: {"quantity": 1 + n % 2, "points": 0,
                                                          "address": _common("address", {})},
                                          headers=lambda case, n: {"Idempotency-Key": f"flash-{os.getpid()}-{_uniq()}"}),
    "POST /admin/points/grants": _set(body=lambda n: {
        "email": _pick(_mine("users", ["employee@example.com"]), n), "points": 1 + n % 500,
        "reason": "节日慰问", "expires_at": "2027-12-31"}),
    "POST /auth/login": _set(body=lambda n: {
        "email": _pick(["buyer@example.com", "employee@example.com", "coop@example.com"], n),
        "password": "aidmart-demo"}),
    "POST /auth/register": _set(body=lambda n: {
        "email": f"fuzz{os.getpid()}-{_uniq()}@example.com", "password": f"quinoa fields at dawn {n}",
        "display_name": "新买家"}),
    "GET /campaigns/{id}": _set(path={"id": lambda n: _pick(_common("campaigns"), n)}),
    "GET /products/{id}": _set(path={"id": lambda n: _pick(_common("products"), n)}),
    "POST /cart/items": _set(body=lambda n: {"sku_id": _pick([s["id"] for s in _common("skus")], n),
                                             "quantity": 1 + n % 4}),
    "PUT /cart/items/{sku_id}": _set(path={"sku_id": lambda n: _pick([s["id"] for s in _common("skus")], n)},
                                     body=lambda n: {"quantity": 1 + n % 4}),
    "DELETE /cart/items/{sku_id}": _set(path={"sku_id": lambda n: _pick([s["id"] for s in _common("skus")], n)}),
    "POST /coop/products": _set(body=lambda n: {
        "code": f"fuzz-{os.getpid()}-{_uniq()}", "name_zh": "坝上燕麦", "name_en": "Bashang oats",
        "description_zh": "坝上高原燕麦。", "description_en": "Oats from the Bashang plateau."}),
    "GET /coop/products/{id}": _set(path={"id": lambda n: _pick(_mine("products"), n)}),
    "PATCH /coop/products/{id}": _set(path={"id": lambda n: _pick(_mine("products"), n)},
                                      body=lambda n: {"description_zh": f"坝上高原种植，第 {n} 批。"}),
    "POST /coop/products/{id}/images": _set(path={"id": lambda n: _pick(_mine("products"), n)},
                                            body=lambda n: _png(), media="image/png"),
    "POST /coop/products/{id}/skus": _set(path={"id": lambda n: _pick(_mine("products"), n)}, body=lambda n: {
        "code": f"FUZZ-{os.getpid()}-{_uniq()}", "name_zh": "500g 袋装", "unit_zh": "袋",
        "price": f"{10 + n % 90}.90", "low_stock_threshold": 5, "max_points_pct": 50}),
    "GET /coop/reports/sales": _set(query=lambda n: {
        "by": _pick(["product", "campaign", "month", "day"], n), "from": "2026-01-01", "to": "2027-12-31",
        "format": _pick(["json", "csv", "xlsx"], n // 4)}),
    "POST /coop/shipments": _set(body=lambda n: {
        "order_no": _pick(_mine("shippable_orders"), n, "AM0"), "carrier": "顺丰速运",
        "tracking_no": f"SF{1000000000000 + n}"}),
    "POST /coop/shipments/bulk": _set(body=lambda n: {
        "csv": "order_no,carrier,tracking_no,recipient_id,producer_id\n"
               f"{_pick(_mine('bulk_shippable_orders'), n, 'AM0')},中通,{7000000000000 + n},,\n"}),
    "PATCH /coop/skus/{id}": _set(path={"id": lambda n: _pick(_mine("skus"), n)},
                                  body=lambda n: {"low_stock_threshold": 5 + n % 20}),
    "GET /coop/skus/{id}/history": _set(path={"id": lambda n: _pick(_mine("skus"), n)},
                                        query=lambda n: {"limit": 1 + n % 50}),
    "PATCH /coop/skus/{id}/stock": _set(path={"id": lambda n: _pick(_mine("skus"), n)},
                                        body=lambda n: {"delta": 1 + n % 10, "reason": "到货入库"}),
    "POST /coop/stock/bulk": _set(body=lambda n: {
        "csv": f"sku_code,stock,delta,reason\n{_sku_code(n)},,{1 + n % 10},到货入库\n"}),
    "GET /coop/earnings": _set(query=lambda n: {"producer_id": _pick(_mine("producers"), n)}),
    "GET /coop/statements/{id}": _set(path={"id": lambda n: _pick(_mine("statements"), n)},
                                      query=lambda n: {"format": _pick(["json", "csv", "xlsx"], n)}),
    "POST /coop/statements/{id}/confirm": _set(path={"id": lambda n: _pick(_mine("confirmable_statements"), n)}),
    "POST /coop/statements/{id}/dispute": _set(path={"id": lambda n: _pick(_mine("disputable_statements"), n)},
                                               body=lambda n: {"note": f"第 {n} 行金额与我社记录不符"}),
    "PUT /coop/bank-account": _set(body=lambda n: {
        "account_name": "沽源县藜麦种植专业合作社", "bank": "中国农业银行沽源县支行",
        "account_no": f"62284804181{n:08d}"}),
    "POST /admin/settlements/run": _set(body=lambda n: {"period_end": _store_today()}),
    "GET /admin/payouts": _set(query=lambda n: {"status": _pick(["queued", "paid", "failed"], n)}),
    "POST /admin/payouts/{id}/paid": _set(path={"id": lambda n: _pick(_mine("payouts"), n)},
                                          body=lambda n: {"bank_reference": f"ABC2026112600{n:04d}"}),
    "POST /admin/payouts/{id}/failed": _set(path={"id": lambda n: _pick(_mine("payouts"), n)},
                                            body=lambda n: {"reason": "户名与账号不符，银行退回"}),
    "GET /admin/statements": _set(query=lambda n: {"status": _pick(["open", "confirmed", "disputed", "held"], n)}),
    "GET /admin/statements/{id}": _set(path={"id": lambda n: _pick(_mine("statements"), n)},
                                       query=lambda n: {"format": _pick(["json", "csv", "xlsx"], n)}),
    "POST /admin/statements/{id}/uphold": _set(path={"id": lambda n: _pick(_mine("statements"), n)},
                                               body=lambda n: {"note": f"已核对第 {n} 项"}),
    "POST /admin/statements/{id}/void": _set(path={"id": lambda n: _pick(_mine("statements"), n)},
                                             body=lambda n: {"note": f"作废重出 {n}"}),
    "PUT /admin/producers/{id}/settlement-period": _set(path={"id": lambda n: _pick(_mine("producers"), n)},
                                                        body=lambda n: {"period": _pick(["weekly", "monthly"], n)}),
    "GET /orgs/{id}/funding-statements/{month}": _set(path={"id": lambda n: _mine("org", 2),
                                                            "month": lambda n: _month()},
                                                      query=lambda n: {"format": _pick(["json", "csv", "xlsx"], n)}),
    "POST /donations": _set(body=lambda n: {"project_id": _pick(_common("projects"), n), "points": 50}),
    "POST /invites/{token}/accept": _set(path={"token": lambda n: _pick(_mine("invites"), n, "x")}),
    "GET /ledger/verify": _set(query=lambda n: {}),
    "GET /ledger/{seq}": _set(path={"seq": lambda n: _pick(_common("ledger_seqs"), n)}),
    "POST /orders": _set(body=_order_body,
                         headers=lambda case, n: {"Idempotency-Key": f"fuzz-{os.getpid()}-{_uniq()}"}),
    "GET /orders/{order_no}": _set(path={"order_no": lambda n: _pick(_mine("orders"), n, "AM0")}),
    "POST /orders/{order_no}/approve": _set(path={"order_no": lambda n: _pick(_mine("approvable_orders"), n, "AM0")}),
    "POST /orders/{order_no}/reject": _set(path={"order_no": lambda n: _pick(_mine("rejectable_orders"), n, "AM0")},
                                           body=lambda n: {"reason": "超出本季度福利预算"}),
    "POST /orders/{order_no}/cancel": _set(path={"order_no": lambda n: _pick(_mine("pending_orders"), n, "AM0")}),
    "POST /orders/{order_no}/refunds": _set(path={"order_no": lambda n: _pick(_mine("paid_orders"), n, "AM0")},
                                            body=lambda n: {"reason": "不想要了"}),
    "POST /me/invoice-titles": _set(body=lambda n: _title_body(n)),
    "GET /orgs/{id}/invoice-titles": _org,
    "POST /orgs/{id}/invoice-titles": _set(path={"id": lambda n: _mine("org", 2)}, body=lambda n: _title_body(n)),
    "POST /orders/{order_no}/invoice-requests": _set(
        path={"order_no": lambda n: _pick(_mine("invoiceable_orders"), n, "AM0")},
        body=lambda n: {"title_id": _pick(_mine("titles"), n)}),
    "GET /orders/{order_no}/invoice-requests": _set(
        path={"order_no": lambda n: _pick(_mine("invoiceable_orders"), n, "AM0")}),
    "POST /orgs/{id}/invoice-requests": _set(path={"id": lambda n: _mine("org", 2)}, body=lambda n: {
        "title_id": _pick(_mine("org_titles"), n), "month": _month(), "producer_id": _common("coop_producer", 1)}),
    "GET /orgs/{id}/invoice-requests": _org,
    "GET /coop/invoice-requests": _set(query=lambda n: {"status": _pick(["requested", "issued", "red_needed"], n)}),
    "GET /invoices/{id}/file": _set(path={"id": lambda n: _pick(_mine("invoices"), n)}),
    "GET /orgs/{id}/procurement-targets/{year}": _set(path={"id": lambda n: _mine("org", 2),
                                                            "year": lambda n: int(time.strftime("%Y")) - n % 2}),
    "PUT /orgs/{id}/procurement-targets/{year}": _set(
        path={"id": lambda n: _mine("org", 2), "year": lambda n: int(time.strftime("%Y")) - n % 2},
        body=lambda n: {"canteen_food_budget": f"{1200000 + n}.00", "union_welfare_budget": "800000.00",
                        "canteen_target_pct": 10, "welfare_target_pct": _pick([10, 30], n)}),
    "GET /orgs/{id}/procurement-report": _set(path={"id": lambda n: _mine("org", 2)}, query=lambda n: {
        "year": int(time.strftime("%Y")), "format": _pick(["json", "xlsx"], n)}),
    "POST /orgs/{id}/statements/{month}/confirm": _set(path={"id": lambda n: _mine("org", 2),
                                                             "month": lambda n: _month()}),
    "POST /orgs/{id}/statements/{month}/dispute": _set(
        path={"id": lambda n: _mine("org", 2), "month": lambda n: _mine("dispute_month", _month())},
        body=lambda n: {"lines": [_pick(_mine("statement_orders"), n, "AM0")], "note": "送达数量与对账单不符"}),
    "GET /orgs/{id}": _org,
    "GET /orgs/{id}/approvals": _org,
    "GET /orgs/{id}/members": _org,
    "GET /orgs/{id}/orders": _org,
    "GET /orgs/{id}/points-grants": _org,
    "GET /orgs/{id}/schedules": _org,
    "GET /orgs/{id}/statements": _set(path={"id": lambda n: _mine("org", 2)},
                                      query=lambda n: {"month": _month(), "format": _pick(["json", "csv", "xlsx"], n)}),
    "POST /orgs/{id}/budget": _set(path={"id": lambda n: _mine("org", 2)}, body=lambda n: {
        # Above what the fixtures spent, within the cap.
        "budget_total": f"{9000000 + n}.00", "period_start": time.strftime("%Y-01-01"),
        "period_end": time.strftime("%Y-12-31"),
        "approval_threshold": "5000.00"}),
    "POST /orgs/{id}/distributions": _set(
        path={"id": lambda n: _mine("org", 2)}, query=lambda n: {}, media="text/csv",
        body=lambda n: f"name,mobile,address,sku,quantity\n王芳,1390000{n % 10000:04d},北京市西城区金融大街{n % 99 + 1}号,"
                       f"{_sku_code(n)},1\n"),
    "POST /orgs/{id}/distributions/preview": _set(
        path={"id": lambda n: _mine("org", 2)}, query=lambda n: {}, media="text/csv",
        body=lambda n: f"name,mobile,address,sku,quantity\n王芳,1390000{n % 10000:04d},北京市西城区金融大街1号,"
                       f"{_sku_code(n)},{1 + n % 3}\n"),
    "POST /orgs/{id}/invites": _set(path={"id": lambda n: _mine("org", 2)},
                                    body=lambda n: {"email": f"invitee{n}@example.com"}),
    "POST /orgs/{id}/members/import": _set(path={"id": lambda n: _mine("org", 2)}, media="text/csv",
                                           body=lambda n: f"email,name\nstaff{n}@example.com,员工{n}\n"),
    "DELETE /orgs/{id}/members/{user_id}": _set(path={"id": lambda n: _mine("org", 2),
                                                      "user_id": lambda n: _pick(_mine("members"), n)}),
    "GET /orgs/{id}/orders/{order_no}": _set(path={"id": lambda n: _mine("org", 2),
                                                   "order_no": lambda n: _pick(_mine("orders"), n, "AM0")}),
    "POST /orgs/{id}/points-grants": _set(
        path={"id": lambda n: _mine("org", 2)}, media="text/csv",
        body=lambda n: f"email,points,expires,reason\nemployee@example.com,{1 + n % 300},2027-12-31,节日慰问\n"),
    "POST /orgs/{id}/points-grants/{grant_id}/approve": _set(path={
        "id": lambda n: _mine("org", 2), "grant_id": lambda n: _pick(_mine("approvable_grants"), n)}),
    "POST /orgs/{id}/points-grants/{grant_id}/reject": _set(path={
        "id": lambda n: _mine("org", 2), "grant_id": lambda n: _pick(_mine("rejectable_grants"), n)}),
    "POST /orgs/{id}/schedules": _set(path={"id": lambda n: _mine("org", 3)}, body=lambda n: _schedule_body(n)),
    "PUT /orgs/{id}/schedules/{schedule_id}": _set(
        path={"id": lambda n: _mine("org", 3), "schedule_id": lambda n: _pick(_mine("editable_schedules"), n)},
        body=lambda n: _schedule_body(n)),
    "POST /orgs/{id}/schedules/{schedule_id}/pause": _set(path={
        "id": lambda n: _mine("org", 3), "schedule_id": lambda n: _pick(_mine("pausable_schedules"), n)}),
    "POST /orgs/{id}/schedules/{schedule_id}/resume": _set(path={
        "id": lambda n: _mine("org", 3), "schedule_id": lambda n: _pick(_mine("resumable_schedules"), n)}),
    "POST /orgs/{id}/schedules/{schedule_id}/cancel": _set(path={
        "id": lambda n: _mine("org", 3), "schedule_id": lambda n: _pick(_mine("cancellable_schedules"), n)}),
    "GET /orgs/{id}/canteen-products": _org,
    # After-sales: parcels, cases in each state, reviews.
    "POST /orders/{order_no}/parts/{part_id}/receipt": _set(
        path={"order_no": lambda n: _pick(_mine("receivable_parts"), n, ["AM0", 1])[0],
              "part_id": lambda n: _pick(_mine("receivable_parts"), n, ["AM0", 1])[1]}, body=lambda n: {}),
    "POST /orders/{order_no}/after-sales": _set(
        path={"order_no": lambda n: _pick(_mine("claimable_lines"), n, ["AM0", 1])[0]},
        body=lambda n: {"type": _pick(["refund_only", "return_refund", "replacement"], n),
                        "lines": [{"line_id": _pick(_mine("claimable_lines"), n, ["AM0", 1])[1], "quantity": 1}],
                        "reason": _pick(["damaged", "spoiled", "wrong_item", "short_delivery", "other"], n // 3),
                        "text": "有几个压坏了"}),
    "GET /orders/{order_no}/after-sales/{id}": _set(path={
        "order_no": lambda n: _pick(_mine("cases"), n, ["AM0", 1])[0],
        "id": lambda n: _pick(_mine("cases"), n, ["AM0", 1])[1]}),
    "POST /orders/{order_no}/after-sales/{id}/escalate": _set(path={
        "order_no": lambda n: _pick(_mine("escalatable_cases"), n, ["AM0", 1])[0],
        "id": lambda n: _pick(_mine("escalatable_cases"), n, ["AM0", 1])[1]}),
    "POST /orders/{order_no}/after-sales/{id}/return-shipment": _set(
        path={"order_no": lambda n: _pick(_mine("returnable_cases"), n, ["AM0", 1])[0],
              "id": lambda n: _pick(_mine("returnable_cases"), n, ["AM0", 1])[1]},
        body=lambda n: {"carrier": "顺丰速运", "tracking_no": f"SF{4000000000000 + n}"}),
    "POST /orders/{order_no}/lines/{line_id}/review": _set(
        path={"order_no": lambda n: _pick(_mine("reviewable_lines"), n, ["AM0", 1])[0],
              "line_id": lambda n: _pick(_mine("reviewable_lines"), n, ["AM0", 1])[1]},
        body=lambda n: {"stars": 1 + n % 5, "text": "很新鲜，下次还买"}),
    "POST /photos": _set(body=lambda n: _png()),
    "GET /coop/after-sales": _set(query=lambda n: {"status": _pick(
        ["requested", "accepted", "awaiting_return", "refunded", "replaced", "rejected", "escalated", "closed"], n)}),
    "GET /admin/after-sales": _set(query=lambda n: {"status": _pick(["escalated", "requested", "refunded"], n)}),
    "POST /coop/after-sales/{id}/accept": _set(path={"id": lambda n: _pick(_mine("acceptable_cases"), n)},
                                               body=lambda n: {"reply": "抱歉，已同意退款"}),
    "POST /coop/after-sales/{id}/reject": _set(path={"id": lambda n: _pick(_mine("rejectable_cases"), n)},
                                               body=lambda n: {"reply": "照片看不出问题"}),
    "POST /coop/after-sales/{id}/confirm-return": _set(path={"id": lambda n: _pick(_mine("confirmable_cases"), n)}),
    "POST /coop/reviews/{id}/reply": _set(path={"id": lambda n: _pick(_mine("reviews"), n)},
                                          body=lambda n: {"reply": "感谢支持！"}),
    "POST /admin/after-sales/{id}/decide": _set(path={"id": lambda n: _pick(_mine("decidable_cases"), n)},
                                                body=lambda n: {"decision": _pick(["refund", "reject"], n),
                                                                "note": "按照片判定"}),
    "POST /admin/reviews/{id}/hide": _set(path={"id": lambda n: _pick(_mine("reviews"), n)},
                                          body=lambda n: {"reason": "含有广告"}),
    "POST /admin/orders/{order_no}/refunds": _set(
        path={"order_no": lambda n: _pick(_mine("refundable_orders"), n, "AM0")}, body=lambda n: {"reason": "纠纷处理"}),
    # Pre-sale and lucky draws.
    "PUT /coop/skus/{id}/presale": _set(path={"id": lambda n: _pick(_mine("presale_skus"), n)}, body=lambda n: {
        "ends_at": _later(1 + n % 30), "ship_by": _later(40 + n % 30)[:10], "per_buyer_limit": 1 + n % 20}),
    "DELETE /coop/skus/{id}/presale": _set(path={"id": lambda n: _pick(_mine("presale_skus"), n)}),
    "POST /orders/{order_no}/presale-cancel": _set(path={"order_no": lambda n: _pick(_mine("paid_orders"), n, "AM0")}),
    "POST /draws": _set(body=lambda n: {
        "campaign_id": _pick(_common("campaigns"), n), "title": f"抽奖 {n}", "entry_rule": _pick(["paid_order", "donation"], n),
        "closes_at": _later(1 + n % 60), "prizes": [{"kind": "points", "points": 1 + n % 500, "count": 1 + n % 3}]}),
    "GET /draws/{id}": _set(path={"id": lambda n: _pick(_common("draws"), n)}),
    "POST /draws/{id}/close": _set(path={"id": lambda n: _pick(_mine("closable_draws") or _common("draws"), n)}),
    # Cloud adoption: the fixtures' offer, its paid units, adoptions and deliveries.
    "GET /adoptions/{id}": _set(path={"id": lambda n: _pick(_common("adoption_offers"), n)}),
    "POST /adoptions/{id}/adopt": _set(path={"id": lambda n: _pick(_common("adoption_offers"), n)},
                                       body=lambda n: {"units": 1 + n % 3, "certificate_name": "李强",
                                                       "address": _common("address", {}), "points": 0}),
    "GET /adopted-units/{id}": _set(path={"id": lambda n: _pick(_common("adopted_units"), n)}),
    "PUT /me/adoptions/{id}/address": _set(path={"id": lambda n: _pick(_mine("adoptions"), n)},
                                           body=lambda n: _common("address", {})),
    "GET /coop/adoptions/{id}": _set(path={"id": lambda n: _pick(_mine("adoption_offers"), n)}),
    "POST /coop/adoptions": _set(body=lambda n: {
        "product_id": _pick(_mine("products") or _common("products"), n), "kind": _pick(["tree", "plot", "hive"], n),
        "title": f"认养 {n}", "season_start": _today(),
        "season_end": time.strftime("%Y-%m-%d", time.gmtime(time.time() + 90 * 86400)), "price": "199.00",
        "units": 1 + n % 100,
        "deliveries": [{"date": _today(), "sku_id": _pick(_mine("skus") or [s["id"] for s in _common("skus")], n),
                        "quantity": 1 + n % 3}]}),
    "POST /coop/adoptions/{id}/updates": _set(path={"id": lambda n: _pick(_mine("adoption_offers"), n)},
                                              body=lambda n: {"text": "藜麦抽穗了 / heading",
                                                              "unit_ids": [_pick(_mine("adopted_units"), n)] if n % 2 else None}),
    "POST /coop/adoptions/{id}/deliveries/{delivery_id}/fail": _set(
        path={"id": lambda n: _pick(_mine("adoption_deliveries"), n, [1, 1])[0],
              "delivery_id": lambda n: _pick(_mine("adoption_deliveries"), n, [1, 1])[1]},
        body=lambda n: {"reason": "冰雹 / hail"}),
    "POST /payments/sandbox/{payment_id}/complete": _set(
        path={"payment_id": lambda n: _pick([p[0] for p in _common("payments")], n, "x")},
        body=lambda n: {"outcome": _pick(["succeeded", "failed"], n // 3)}),
}


def _webhook(case, n):
    payment_id, amount = _pick(_common("webhook_payments"), n, ["x", 1])
    body = {"event_id": f"evt_fuzz{os.getpid()}_{_uniq()}", "payment_id": payment_id,
            "outcome": "succeeded", "amount_fen": amount}
    raw = json.dumps(body).encode()  # as requests will serialise it
    case.body = body
    case.headers = {**(case.headers or {}), "X-Sandbox-Signature": _sign(raw)}


_AIM["POST /payments/sandbox/webhook"] = _webhook


_USCC = ["91440300708461136T", "91330100716105852F", "91110108551385082Q", "91310000132200821H"]


def _title_body(n):
    return {"kind": _pick(["normal", "special"], n), "name": "示范集团有限公司工会委员会", "uscc": _pick(_USCC, n),
            "address": "北京市西城区金融大街1号", "phone": "010-66000000", "bank": "中国工商银行北京金融街支行",
            "account": "0200001234567890123"}


def _upload_invoice(case, n):
    request_id, amount = _pick(_mine("uploadable_requests"), n, [1, "1.00"])
    case.path_parameters["id"] = request_id
    case.media_type = "multipart/form-data"
    case.body = {"file": b"%PDF-1.7\n%%EOF\n", "number": f"2611200000001234{n % 10000:04d}",
                 "issued_on": _today(), "amount": amount}


_AIM["POST /coop/invoice-requests/{id}/invoice"] = _upload_invoice


def _key(operation):
    path = operation.path
    for prefix in ("/api/v1",):
        if path.startswith(prefix):
            path = path[len(prefix):]
    return f"{operation.method.upper()} {path}"


@schemathesis.hook
def before_generate_case(context, strategy):
    aim = _AIM.get(_key(context.operation)) if _FIX else None
    if aim is None:
        return strategy

    def maybe_aim(drawn):
        case, n, coin = drawn
        if coin:  # three cases in four
            aim(case, n)
        return case

    return st.tuples(strategy, st.integers(min_value=0, max_value=10_000), st.integers(0, 3)).map(maybe_aim)
