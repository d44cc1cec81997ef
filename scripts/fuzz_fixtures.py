#!/usr/bin/env python3
"""Prepares live data for scripts/fuzz_api.sh and prints it as JSON: for each demo role, ids
the fuzzer can aim at (its organisation, orders in each state, pending grants and approvals,
invite tokens, members, payments), and the catalogue everyone sees.

Random values almost never hit an existing order number or an organisation the role belongs
to, so without these the fuzzer only ever meets 404s. scripts/fuzz_hooks.py turns three in four
generated requests into well-formed ones aimed at these objects; the rest stay random.

    python3 scripts/fuzz_fixtures.py http://127.0.0.1:8080 DATA_DIR/mail > fixtures.json

The mail folder is where the store writes its mail when no SMTP server is set: invite tokens
are only ever sent by mail.
"""

import datetime
import email
import email.policy
import json
import os
import pathlib
import re
import sys
import time
import zoneinfo

import requests

PASSWORD = "aidmart-demo"
ADDRESS = {"name": "李强", "mobile": "13800138000", "province": "北京市", "city": "北京市",
           "district": "西城区", "detail": "金融大街1号"}


class Api:
    def __init__(self, base, email=None, password=PASSWORD):
        self.base = base + "/api/v1"
        self.http = requests.Session()
        if email:
            self.call("POST", "/auth/login", json={"email": email, "password": password})

    def call(self, method, path, ok=(200, 201, 202), **kw):
        r = self.http.request(method, self.base + path, timeout=30, **kw)
        if r.status_code not in ok:
            raise SystemExit(f"fixture step {method} {path} answered {r.status_code}: {r.text[:300]}")
        return r.json() if r.content and r.headers.get("content-type", "").startswith("application/json") else r.text


def items(body):
    return body["items"] if isinstance(body, dict) and "items" in body else body


def fen(yuan):
    whole, _, frac = yuan.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def mailed_links(mail_dir, to, path):
    """The tokens of the links to `path` (such as "/invites/") mailed to `to`, from the store's
    .eml files."""
    tokens = []
    for file in sorted(pathlib.Path(mail_dir).glob("*.eml")):
        if file.name not in _PARSED:  # each file is parsed once
            message = email.message_from_bytes(file.read_bytes(), policy=email.policy.default)
            body = message.get_body(preferencelist=("plain", "html"))
            _PARSED[file.name] = (str(message["To"]), body.get_content() if body else "")
        recipient, text = _PARSED[file.name]
        if to in recipient:
            tokens += re.findall(re.escape(path) + r"([A-Za-z0-9_-]+)", text)
    return list(dict.fromkeys(tokens))


_PARSED = {}


def new_tokens(mail_dir, to, known, count, path="/invites/"):
    """Waits (the outbox sends in the background) for `count` tokens mailed to `to` beyond `known`."""
    for _ in range(150):
        fresh = [t for t in mailed_links(mail_dir, to, path) if t not in known]
        if len(fresh) >= count:
            return fresh
        time.sleep(0.2)
    raise SystemExit(f"fixture step: no invite mail for {to} in {mail_dir}")


def store_today():
    """Today in the store's time zone (periods close on the store's days)."""
    zone = zoneinfo.ZoneInfo(os.environ.get("AIDMART_TIMEZONE") or "Asia/Shanghai")
    return datetime.datetime.now(zone).date().isoformat()


def main(base, mail_dir, k):
    """`k`: how many objects of each one-shot kind (an order can be cancelled once)."""
    anon = Api(base)
    products = items(anon.call("GET", "/products"))
    skus = []
    for p in products:
        detail = anon.call("GET", f"/products/{p['id']}")
        for s in detail.get("skus", []):
            skus.append({"id": s["id"], "code": s["code"], "product_id": p["id"], "producer_id": p["producer_id"]})
    campaigns = [c["id"] for c in items(anon.call("GET", "/campaigns"))]
    projects = [p["id"] for p in items(anon.call("GET", "/donation-projects"))]
    common = {"products": [p["id"] for p in products], "skus": skus, "campaigns": campaigns,
              "projects": projects, "address": ADDRESS}

    # The cooperative's own SKUs (coop@ manages one producer).
    coop = Api(base, "coop@example.com")
    own = items(coop.call("GET", "/coop/skus"))
    own_skus = [s["id"] for s in own]
    own_codes = [s["code"] for s in own]
    own_products = sorted({s["product_id"] for s in own if "product_id" in s}) or \
        sorted({s["product_id"] for s in skus if s["id"] in own_skus})
    own_sku = own_skus[0]
    # Enough stock for every fixture order and the fuzzer's own.
    coop.call("PATCH", f"/coop/skus/{own_sku}/stock", json={"set": 100000, "reason": "restock"})

    def order(api, lines, account=None, points=0):
        body = {"lines": lines, "address": ADDRESS, "points": points}
        if account:
            body["account"] = account
        return api.call("POST", "/orders", json=body)

    def pay(api, placed):
        api.call("POST", f"/payments/sandbox/{placed['payment_id']}/complete", json={"outcome": "succeeded"})

    roles = {}
    # Payments the sandbox page or the gateway's callback may complete (anyone may call them).
    payer = Api(base, "employee@example.com")
    waiting = [order(payer, [{"sku_id": own_sku, "quantity": 1}]) for _ in range(2 * k)]
    common["payments"] = [[o["payment_id"], fen(o["cash_due"])] for o in waiting[:k]]
    common["webhook_payments"] = [[o["payment_id"], fen(o["cash_due"])] for o in waiting[k:]]
    for role in ("buyer", "employee"):
        api = Api(base, f"{role}@example.com")
        pending = [order(api, [{"sku_id": own_sku, "quantity": 1}]) for _ in range(k)]
        paid = []
        for _ in range(k):
            placed = order(api, [{"sku_id": own_sku, "quantity": 3}])
            pay(api, placed)
            paid.append(placed)
        roles[role] = {
            "orders": [o["order_no"] for o in pending + paid],
            "pending_orders": [o["order_no"] for o in pending],
            "paid_orders": [o["order_no"] for o in paid],
            "payments": [o["payment_id"] for o in pending],
        }

    # Unions: orders above the approval threshold placed by the chair wait for union@.
    union = Api(base, "union@example.com")
    chair = Api(base, "union2@example.com")
    me = union.call("GET", "/me")
    union_org = next(m["id"] for m in me["organisations"] if m.get("kind") == "union")
    # Room in the welfare budget for 2k orders and 2k grants above the approval threshold.
    Api(base, "admin@example.com").call("POST", f"/orgs/{union_org}/budget", json={
        "budget_total": "10000000.00", "period_start": f"{datetime.date.today().year}-01-01",
        "period_end": f"{datetime.date.today().year}-12-31", "approval_threshold": "5000.00"})
    big = [{"sku_id": own_sku, "quantity": 150}]
    awaiting = [order(chair, big, {"org_id": union_org})["order_no"] for _ in range(2 * k)]
    for i in range(2 * k):
        # Above the union's approval threshold (¥5,000 at 100 points a yuan): a second admin decides.
        csv = f"email,points,expires,reason\nemployee@example.com,{600000 + i},2027-12-31,fixture {i}\n"
        chair.call("POST", f"/orgs/{union_org}/points-grants", data=csv.encode(),
                   headers={"content-type": "text/csv"})
    listed = union.call("GET", f"/orgs/{union_org}/points-grants")
    grants = [g["id"] for g in items(listed) if g.get("status") == "pending"]
    # Members union@ may remove: other demo users who accepted an invite to the union.
    joining = ["buyer@example.com", "employee@example.com", "canteen@example.com", "coop@example.com"]
    for i in range(max(0, k - len(joining))):
        who = f"member{i}-{int(time.time())}@example.com"
        anon.call("POST", "/auth/register", json={"email": who, "password": "quinoa fields at dawn",
                                                  "display_name": f"成员{i}"})
        verify = new_tokens(mail_dir, who, set(), 1, "/verify/")[0]
        anon.http.get(f"{base}/verify/{verify}", timeout=30).raise_for_status()
        joining.append(who)
    for who in joining:
        known = set(mailed_links(mail_dir, who, "/invites/"))
        union.call("POST", f"/orgs/{union_org}/invites", json={"email": who})
        member = Api(base, who, "quinoa fields at dawn" if who.startswith("member") else PASSWORD)
        member.call("POST", f"/invites/{new_tokens(mail_dir, who, known, 1)[0]}/accept")
    members = [m["user_id"] for m in items(union.call("GET", f"/orgs/{union_org}/members"))
               if m.get("email") in joining]
    union_orders = [o["order_no"] for o in items(union.call("GET", f"/orgs/{union_org}/orders"))]
    # Separate objects for approving and rejecting: one decision each.
    roles["union"] = {"org": union_org, "orders": union_orders, "members": members,
                      "approvable_orders": awaiting[:k], "rejectable_orders": awaiting[k:],
                      "approvable_grants": grants[:k], "rejectable_grants": grants[k:]}

    canteen = Api(base, "canteen@example.com")
    me = canteen.call("GET", "/me")
    canteen_org = next(m["id"] for m in me["organisations"] if m.get("kind") == "canteen")
    canteen_orders = []
    for _ in range(3):
        when = (datetime.date.today() + datetime.timedelta(days=3)).isoformat()
        canteen_orders.append(order(canteen, [{"sku_id": own_sku, "quantity": 2}],
                                    {"org_id": canteen_org, "delivery_date": when})["order_no"])
    # Recurring orders: k to edit, k to pause, k paused to resume, k to cancel.
    def schedule():
        first = datetime.date.today() + datetime.timedelta(days=5)
        body = {"cadence": "weekly", "first_delivery": first.isoformat(),
                "end_date": (first + datetime.timedelta(days=60)).isoformat(), "lead_days": 2,
                "lines": [{"sku_id": own_sku, "quantity": 2}], "address": ADDRESS}
        return canteen.call("POST", f"/orgs/{canteen_org}/schedules", json=body)["id"]

    schedules = [schedule() for _ in range(4 * k)]
    for paused in schedules[2 * k:3 * k]:
        canteen.call("POST", f"/orgs/{canteen_org}/schedules/{paused}/pause")
    roles["canteen"] = {"org": canteen_org, "orders": canteen_orders,
                        "editable_schedules": schedules[:k], "pausable_schedules": schedules[k:2 * k],
                        "resumable_schedules": schedules[2 * k:3 * k], "cancellable_schedules": schedules[3 * k:]}

    # Paid orders of the cooperative's SKU wait for its parcels (not the buyers' to refund).
    shippable = []
    for _ in range(2 * k):
        placed = order(payer, [{"sku_id": own_sku, "quantity": 2}])
        pay(payer, placed)
        shippable.append(placed["order_no"])
    roles["coop"] = {"products": own_products, "skus": own_skus, "sku_codes": own_codes,
                     "shippable_orders": shippable[:k], "bulk_shippable_orders": shippable[k:]}

    # Settlement: close today for every cooperative with paid lines (one statement each per
    # period); the demo cooperative's is confirmed here, so the admin has a payout to mark paid
    # or failed (the cooperative's own confirm and dispute then meet 409 invalid_state).
    # One order completes, so its earning becomes available and the statement has a payable:
    # shipped, received by its buyer, and completed by the job once the after-sales window has
    # closed (scripts/fuzz_api.sh runs the store with AIDMART_AFTER_SALES_DAYS=0 and a 2 s job
    # interval).
    sent = order(payer, [{"sku_id": own_sku, "quantity": 2}])
    pay(payer, sent)
    coop.call("POST", "/coop/shipments", json={"order_no": sent["order_no"], "carrier": "顺丰速运",
                                               "tracking_no": "SF9000000000001"})
    part = payer.call("GET", f"/orders/{sent['order_no']}")["parts"][0]["id"]
    payer.call("POST", f"/orders/{sent['order_no']}/parts/{part}/receipt", json={})
    for _ in range(100):
        if fen(coop.call("GET", "/coop/earnings")["available"]) > 0:
            break
        time.sleep(0.2)
    else:
        raise SystemExit("fixture step: the completed order's earning never became available")
    admin = Api(base, "admin@example.com")
    statements = admin.call("POST", "/admin/settlements/run", json={"period_end": store_today()})
    own_producers = sorted({s["producer_id"] for s in skus if s["id"] in own_skus})
    mine = [s["id"] for s in statements if s["producer_id"] in own_producers]
    for st in mine:
        coop.call("POST", f"/coop/statements/{st}/confirm")
    roles["coop"].update({"producers": own_producers, "statements": mine,
                          "confirmable_statements": mine, "disputable_statements": mine})

    # Invites for the buyer to accept (each token once).
    used = set(mailed_links(mail_dir, "buyer@example.com", "/invites/"))
    for _ in range(k):
        union.call("POST", f"/orgs/{union_org}/invites", json={"email": "buyer@example.com"})
    roles["buyer"]["invites"] = new_tokens(mail_dir, "buyer@example.com", used, k)

    # Invoices: a buyer's title, paid orders to ask invoices for, requests for the cooperative
    # to fill (with their amounts) and issued invoices whose files may be fetched.
    invoicer = Api(base, "buyer@example.com")
    title = invoicer.call("POST", "/me/invoice-titles", json={
        "kind": "normal", "name": "李强", "uscc": "91440300708461136T"})
    today = datetime.date.today().isoformat()
    paid_for = []
    for _ in range(3 * k):
        placed = order(invoicer, [{"sku_id": own_sku, "quantity": 1}])
        pay(invoicer, placed)
        paid_for.append(placed["order_no"])
    asked = []
    for order_no in paid_for[k:]:
        made = items(invoicer.call("POST", f"/orders/{order_no}/invoice-requests", json={"title_id": title["id"]}))
        asked.append([made[0]["id"], made[0]["amount"]])
    issued = []
    for request_id, amount in asked[k:]:
        done = coop.call("POST", f"/coop/invoice-requests/{request_id}/invoice",
                         files={"file": ("invoice.pdf", b"%PDF-1.7\n%%EOF\n", "application/pdf")},
                         data={"number": "26112000000012345678", "issued_on": today, "amount": amount})
        issued.append(done["invoices"][0]["id"])
    roles["buyer"].update({"titles": [title["id"]], "invoiceable_orders": paid_for[:k], "invoices": issued})
    roles["coop"].update({"uploadable_requests": asked[:k], "invoices": issued})
    org_title = union.call("POST", f"/orgs/{union_org}/invoice-titles", json={
        "kind": "special", "name": "示范集团有限公司工会委员会", "uscc": "91330100716105852F",
        "address": "北京市西城区金融大街1号", "phone": "010-66000000", "bank": "中国工商银行北京金融街支行",
        "account": "0200001234567890123"})
    # A small order on the union's account (paid at once) for its monthly invoice.
    on_account = order(union, [{"sku_id": own_sku, "quantity": 1}], {"org_id": union_org})
    roles["union"]["org_titles"] = [org_title["id"]]
    roles["union"]["statement_orders"] = [on_account["order_no"]]
    # A canteen delivery next month: that month's statement stays open for disputes while the
    # fuzzer confirms this month's.
    first_next = (datetime.date.today().replace(day=1) + datetime.timedelta(days=32)).replace(day=1)
    later = order(canteen, [{"sku_id": own_sku, "quantity": 1}],
                  {"org_id": canteen_org, "delivery_date": (first_next + datetime.timedelta(days=2)).isoformat()})
    if isinstance(later, dict) and "order_no" in later:
        roles["canteen"]["statement_orders"] = [later["order_no"]]
        roles["canteen"]["dispute_month"] = first_next.strftime("%Y-%m")
    common["coop_producer"] = next((s["producer_id"] for s in skus if s["id"] == own_sku), 1)

    # After the parcel leaves: the buyer's shipped orders, parcels to receive, lines to review,
    # and after-sales cases in each state for each side to act on.
    tracking = iter(range(2000000000000, 3000000000000))

    def shipped(qty):
        placed = order(buyer, [{"sku_id": own_sku, "quantity": qty}])
        pay(buyer, placed)
        coop.call("POST", "/coop/shipments", json={"order_no": placed["order_no"], "carrier": "顺丰速运",
                                                   "tracking_no": f"SF{next(tracking)}"})
        return buyer.call("GET", f"/orders/{placed['order_no']}")

    def case(view, kind, i):
        body = {"type": kind, "lines": [{"line_id": view["lines"][0]["id"], "quantity": 1}],
                "reason": "damaged", "text": f"第 {i} 箱有压伤"}
        return buyer.call("POST", f"/orders/{view['order_no']}/after-sales", json=body)["id"]

    buyer = Api(base, "buyer@example.com")
    to_receive = [shipped(2) for _ in range(k)]
    to_claim = [shipped(3) for _ in range(k)]
    received = [shipped(1) for _ in range(2 * k)]
    for view in received:
        buyer.call("POST", f"/orders/{view['order_no']}/parts/{view['parts'][0]['id']}/receipt", json={})
    # k reviewed here (for the cooperative to reply to and an admin to hide), k left to review.
    reviews = [buyer.call("POST", f"/orders/{view['order_no']}/lines/{view['lines'][0]['id']}/review",
                          json={"stars": 1 + i % 5, "text": "颗粒饱满，家人都爱吃"})["id"]
               for i, view in enumerate(received[:k])]
    to_review = received[k:]
    # Cases: six per order of six units, one unit each.
    case_orders = [shipped(6) for _ in range(k)]
    cases = {name: [] for name in ("acceptable", "rejectable", "escalatable", "decidable", "returnable", "confirmable")}
    for i, view in enumerate(case_orders):
        no = view["order_no"]
        cases["acceptable"].append([no, case(view, "refund_only", i)])
        cases["rejectable"].append([no, case(view, "refund_only", i)])
        rejected = case(view, "refund_only", i)
        coop.call("POST", f"/coop/after-sales/{rejected}/reject", json={"reply": "照片看不出问题"})
        cases["escalatable"].append([no, rejected])
        escalated = case(view, "refund_only", i)
        coop.call("POST", f"/coop/after-sales/{escalated}/reject", json={"reply": "照片看不出问题"})
        buyer.call("POST", f"/orders/{no}/after-sales/{escalated}/escalate")
        cases["decidable"].append([no, escalated])
        for name in ("returnable", "confirmable"):
            back = case(view, "return_refund", i)
            coop.call("POST", f"/coop/after-sales/{back}/accept", json={"reply": "请寄回"})
            if name == "confirmable":
                buyer.call("POST", f"/orders/{no}/after-sales/{back}/return-shipment",
                           json={"carrier": "顺丰速运", "tracking_no": f"SF{next(tracking)}"})
            cases[name].append([no, back])
    roles["buyer"].update({
        "receivable_parts": [[v["order_no"], v["parts"][0]["id"]] for v in to_receive],
        "claimable_lines": [[v["order_no"], v["lines"][0]["id"]] for v in to_claim],
        "reviewable_lines": [[v["order_no"], v["lines"][0]["id"]] for v in to_review],
        "cases": [c for name in cases for c in cases[name]],
        "escalatable_cases": cases["escalatable"], "returnable_cases": cases["returnable"],
    })
    roles["coop"].update({"acceptable_cases": [c[1] for c in cases["acceptable"]],
                          "rejectable_cases": [c[1] for c in cases["rejectable"]],
                          "confirmable_cases": [c[1] for c in cases["confirmable"]],
                          "reviews": reviews})
    admin_refundable = [shipped(1)["order_no"] for _ in range(k)]

    # Cloud adoption: an offer of the cooperative's SKU with a delivery due today and one
    # later, a unit adopted and paid by the buyer (so its public page exists), another
    # adoption of the employee's (for its address), and the offer's deliveries to fail.
    today_d = datetime.date.fromisoformat(store_today())
    offer = coop.call("POST", "/coop/adoptions", json={
        "product_id": next(s["product_id"] for s in skus if s["id"] == own_sku), "kind": "plot",
        "title": "认养一亩藜麦（测试）", "season_start": today_d.isoformat(),
        "season_end": (today_d + datetime.timedelta(days=120)).isoformat(), "price": "99.00", "units": 5000,
        "deliveries": [{"date": today_d.isoformat(), "sku_id": own_sku, "quantity": 1},
                       {"date": (today_d + datetime.timedelta(days=60)).isoformat(), "sku_id": own_sku, "quantity": 2}]})
    units, adoptions = [], {"buyer": [], "employee": []}
    for role, api in (("buyer", buyer), ("employee", payer)):
        for _ in range(2):
            made = api.call("POST", f"/adoptions/{offer['id']}/adopt", json={
                "units": 1, "certificate_name": "李强", "address": ADDRESS})
            pay(api, made["order"])
            units += [u["id"] for u in made["units"]]
            adoptions[role].append(made["adoption_id"])
    common["adoption_offers"] = [offer["id"]]
    common["adopted_units"] = units
    roles["buyer"]["adoptions"] = adoptions["buyer"]
    roles["employee"]["adoptions"] = adoptions["employee"]
    roles["coop"].update({"adoption_offers": [offer["id"]], "adopted_units": units,
                          "adoption_deliveries": [[offer["id"], d["id"]] for d in offer["deliveries"]]})

    roles["admin"] = {"org": union_org, "decidable_cases": [c[1] for c in cases["decidable"]],
                      "reviews": reviews, "refundable_orders": admin_refundable, "orgs": [union_org, canteen_org],
                      "users": ["employee@example.com", "buyer@example.com"],
                      "payouts": [p["id"] for p in admin.call("GET", "/admin/payouts")],
                      "statements": [st["id"] for st in admin.call("GET", "/admin/statements")],
                      "producers": [p["producer_id"] for p in admin.call("GET", "/admin/settlement/producers")]}
    # Lucky draws: open ones for the admin to close (each closes once), a closed one to read,
    # and a SKU of the cooperative other than the fixtures' own for pre-sale terms.
    def draw(closes_in_hours=2):
        closes = (datetime.datetime.utcnow() + datetime.timedelta(hours=closes_in_hours)).strftime("%Y-%m-%dT%H:%M:%S")
        return admin.call("POST", "/draws", json={
            "campaign_id": campaigns[0], "title": "端午抽奖", "entry_rule": "paid_order", "closes_at": closes,
            "prizes": [{"kind": "points", "points": 100, "count": 2}]})["id"]
    open_draws = [draw() for _ in range(k)]
    closed_draw = draw()
    admin.call("POST", f"/draws/{closed_draw}/close")
    common["draws"] = open_draws + [closed_draw]
    roles["admin"]["closable_draws"] = open_draws
    roles["coop"]["presale_skus"] = own_skus[1:] or own_skus
    common["ledger_seqs"] = [e["seq"] for e in anon.call("GET", "/ledger?limit=50")["entries"]]

    # Flash sales: a live one on the cooperative's SKU (made by its manager, with room for the
    # fuzzer's buyers), an upcoming one (made by the admin) for not_started.
    now = datetime.datetime.now(datetime.timezone.utc)
    stamp = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    live = coop.call("POST", "/flash-sales", json={
        "sku_id": own_sku, "price": "9.90", "quantity": 500, "per_buyer_limit": 3,
        "starts_at": stamp(now - datetime.timedelta(minutes=1)), "ends_at": stamp(now + datetime.timedelta(hours=6)),
        "stream_url": "https://live.example.com/guyuan"})
    upcoming = admin.call("POST", "/flash-sales", json={
        "sku_id": own_sku, "price": "8.80", "quantity": 5, "per_buyer_limit": 1,
        "starts_at": stamp(now + datetime.timedelta(hours=2)), "ends_at": stamp(now + datetime.timedelta(hours=3))})
    common["flash_sales"] = [live["id"], upcoming["id"]]
    common["flash_sku"] = own_sku
    json.dump({"common": common, "roles": roles}, sys.stdout, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"), sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 6)
