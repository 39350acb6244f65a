"""The HTTP API in-process (FastAPI's test client over httpx), renders run inline:
auth, shop isolation on every route, the 4xx answers that name the problem, idempotency,
batches (JSON and CSV), edits, templates, artifacts, rate limits and a lost database."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from cards.formats import card_format
from cards.preview import pdf_strokes
from jobs.api import create_app
from jobs.settings import Settings
from jobs.store import Store
from plotter.gcode import read_strokes
from plotter.profile import load_profile

BODY = {"message": "Es tut uns leid, dass Ihr Paket zu spät kam.", "greeting": "Liebe Frau Weiß,",
        "closing": "Herzliche Grüße", "font": "tech", "seed": 11}


@pytest.fixture
def service(make_store):
    store = make_store(rate_limit_per_minute=10_000, max_body_bytes=200_000)
    app = create_app(store.settings, store=store)
    with TestClient(app) as client:
        yield client, store


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def shop_key(service):
    _, store = service
    return store.create_shop("Blumenladen Sonnenschein")[1]


def submit(client, key, body=None, **headers):
    return client.post("/v1/jobs", json=body or BODY, headers={**auth(key), **headers})


def test_submit_render_preview_approve(service, shop_key):
    client, _ = service
    r = submit(client, shop_key)
    assert r.status_code == 201
    job = r.json()
    assert job["state"] == "received" and job["seed"] == 11  # as stored
    assert job["links"]["self"] == f"/v1/jobs/{job['id']}"
    got = client.get(f"/v1/jobs/{job['id']}", headers=auth(shop_key)).json()
    assert got["state"] == "rendered"  # the render ran inline
    assert got["links"]["approve"].endswith("/approve")
    png = client.get(got["links"]["preview_png"], headers=auth(shop_key))
    assert png.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size[0] > 500
    approved = client.post(got["links"]["approve"], headers=auth(shop_key))
    assert approved.status_code == 200 and approved.json()["state"] == "queued"
    again = client.post(got["links"]["approve"], headers=auth(shop_key))
    assert again.status_code == 409
    assert again.json()["state"] == "queued" and "the job is queued" in again.json()["message"]


def test_preview_pdf_draws_the_gcode_strokes(service, shop_key):
    client, _ = service
    job = submit(client, shop_key, {**BODY, "recipient": {
        "name": "Erika Müller", "street_lines": ["Hauptstraße 12"], "postcode": "10115",
        "city": "Berlin"}}).json()
    job = client.get(job["links"]["self"], headers=auth(shop_key)).json()
    pdf = client.get(job["links"]["preview_pdf"], headers=auth(shop_key))
    gcode = client.get(job["links"]["gcode"], headers=auth(shop_key))
    assert pdf.headers["content-type"] == "application/pdf"
    card = card_format("a6-landscape")
    planned = read_strokes(gcode.text, load_profile("grbl-servo"), card.width_mm, card.height_mm)
    previewed = pdf_strokes(pdf.content)
    assert len(previewed) == len(planned.strokes) > 50
    for a, b in zip(previewed, planned.strokes, strict=True):
        assert a.shape == b.shape and np.abs(a - b).max() < 0.01


def test_requests_without_a_valid_key_are_refused(service, shop_key):
    client, _ = service
    assert client.get("/v1/jobs").status_code == 401
    r = client.get("/v1/jobs", headers=auth("pp_not-a-key"))
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert client.get("/v1/jobs", headers={"Authorization": "Basic abc"}).status_code == 401


def test_a_shop_never_sees_another_shops_job_on_any_route(service, shop_key):
    client, store = service
    job = submit(client, shop_key).json()
    other = store.create_shop("Konkurrenz")[1]
    base = f"/v1/jobs/{job['id']}"
    calls = [("get", base, None), ("patch", base, {"message": "x"}),
             ("post", f"{base}/approve", None), ("post", f"{base}/reject", {"reason": "no"}),
             ("post", f"{base}/cancel", None), ("get", f"{base}/events", None)]
    calls += [("get", f"{base}/{name}", None) for name in
              ("preview.pdf", "preview.png", "card.gcode", "card.svg")]
    for method, url, body in calls:
        r = client.request(method, url, json=body, headers=auth(other))
        assert r.status_code == 404, (method, url, r.text)
        assert job["id"] in r.json()["message"]
    assert client.get("/v1/jobs", headers=auth(other)).json()["jobs"] == []
    assert client.get(base, headers=auth(shop_key)).json()["state"] == "rendered"


@pytest.mark.parametrize("body,status,words", [
    ({**BODY, "message": "Sorry 😀"}, 422, ["message", "U+1F600"]),
    ({**BODY, "font": "comic-sans"}, 422, ["font", "hershey-script", "tech"]),
    ({**BODY, "card": "postcard-xl"}, 422, ["card", "a6-landscape"]),
    ({**BODY, "message": "Entschuldigung! " * 240}, 422, ["too long", "lines"]),
    ({**BODY, "recipient": {"name": "A", "street_lines": ["B 1"]}}, 422, ["recipient.city"]),
    ({**BODY, "seed": -1}, 422, ["seed"]),
    ({"template": "Hallo {{ vorname }}", "fields": {"name": "x"}}, 422, ["'vorname'"]),
    ({"greeting": "Hallo"}, 422, ["message"]),
])
def test_bad_jobs_get_a_4xx_naming_the_problem(service, shop_key, body, status, words):
    client, _ = service
    r = submit(client, shop_key, body)
    assert r.status_code == status, r.text
    for word in words:
        assert word in r.json()["message"]
    assert client.get("/v1/jobs", headers=auth(shop_key)).json()["jobs"] == []


def test_malformed_and_oversize_bodies(service, shop_key):
    client, _ = service
    r = client.post("/v1/jobs", content=b"{not json", headers={
        **auth(shop_key), "Content-Type": "application/json"})
    assert r.status_code == 422 and "JSON" in r.json()["message"]
    r = client.post("/v1/jobs", content=b"x" * 300_000, headers={
        **auth(shop_key), "Content-Type": "application/json"})
    assert r.status_code == 413 and "200000 bytes" in r.json()["message"]


def test_chunked_oversize_bodies_are_413(service, shop_key):
    client, _ = service
    job = submit(client, shop_key).json()

    def chunks():  # no Content-Length: httpx sends a generator chunked
        for _ in range(30):
            yield b" " * 10_000

    headers = {**auth(shop_key), "Content-Type": "application/json"}
    for method, url in (("POST", "/v1/jobs"), ("PATCH", job["links"]["self"]),
                        ("POST", "/v1/batches")):
        r = client.request(method, url, content=chunks(), headers=headers)
        assert r.request.headers.get("transfer-encoding") == "chunked"
        assert r.status_code == 413, (method, url, r.text)
        assert "200000 bytes" in r.json()["message"]
    small = json.dumps(BODY).encode()
    r = client.post("/v1/jobs", content=iter([small[:10], small[10:]]), headers=headers)
    assert r.status_code == 201, r.text  # a chunked body under the limit is read whole


def test_idempotency_key(service, shop_key):
    client, _ = service
    first = submit(client, shop_key, None, **{"Idempotency-Key": "order-1"})
    again = submit(client, shop_key, None, **{"Idempotency-Key": "order-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    other = submit(client, shop_key, {**BODY, "seed": 12}, **{"Idempotency-Key": "order-1"})
    assert other.status_code == 409 and "order-1" in other.json()["message"]
    assert len(client.get("/v1/jobs", headers=auth(shop_key)).json()["jobs"]) == 1


def test_edit_is_a_new_revision_and_approval_starts_over(service, shop_key):
    client, _ = service
    job = submit(client, shop_key).json()
    job = client.get(job["links"]["self"], headers=auth(shop_key)).json()
    before = client.get(job["links"]["gcode"], headers=auth(shop_key)).text
    r = client.patch(job["links"]["self"], json={"message": "Es tut uns sehr leid."},
                     headers=auth(shop_key))
    assert r.status_code == 200
    edited = client.get(job["links"]["self"], headers=auth(shop_key)).json()
    assert edited["revision"] == 2 and edited["state"] == "rendered"
    after = client.get(job["links"]["gcode"], headers=auth(shop_key))
    assert after.headers["x-penpost-revision"] == "2" and after.text != before
    r = client.patch(job["links"]["self"], json={"font": "allure"}, headers=auth(shop_key))
    assert r.status_code == 200 and r.json()["revision"] == 3
    client.post(job["links"]["self"] + "/approve", headers=auth(shop_key))
    r = client.patch(job["links"]["self"], json={"seed": 5}, headers=auth(shop_key))
    assert r.status_code == 422 and "seed" in r.json()["message"]
    events = client.get(job["links"]["events"], headers=auth(shop_key)).json()
    moves = [(t["from_state"], t["to_state"], t["revision"]) for t in events["transitions"]]
    assert moves == [(None, "received", 1), ("received", "rendered", 1),
                     ("rendered", "received", 2), ("received", "rendered", 2),
                     ("rendered", "received", 3), ("received", "rendered", 3),
                     ("rendered", "approved", 3), ("approved", "queued", 3)]


def test_queued_cards_cannot_be_edited_but_can_be_cancelled(service, shop_key):
    client, _ = service
    job = submit(client, shop_key).json()
    client.post(job["links"]["self"] + "/approve", headers=auth(shop_key))
    r = client.patch(job["links"]["self"], json={"message": "Neu"}, headers=auth(shop_key))
    assert r.status_code == 409 and r.json()["state"] == "queued"
    r = client.post(job["links"]["self"] + "/cancel", json={"reason": "Kunde hat angerufen"},
                    headers=auth(shop_key))
    assert r.status_code == 200 and r.json()["state"] == "cancelled"


def test_reject_needs_a_reason(service, shop_key):
    client, _ = service
    job = submit(client, shop_key).json()
    job = client.get(job["links"]["self"], headers=auth(shop_key)).json()
    r = client.post(job["links"]["reject"], json={}, headers=auth(shop_key))
    assert r.status_code == 422 and "reason" in r.json()["message"]
    r = client.post(job["links"]["reject"], json={"reason": "Ton zu förmlich"},
                    headers=auth(shop_key))
    assert r.json()["state"] == "rejected"
    events = client.get(job["links"]["events"], headers=auth(shop_key)).json()
    assert events["transitions"][-1]["reason"] == "Ton zu förmlich"


def test_list_filters_and_cursor(service, shop_key):
    client, _ = service
    ids = [submit(client, shop_key, {**BODY, "seed": i}).json()["id"] for i in range(5)]
    client.post(f"/v1/jobs/{ids[1]}/cancel", headers=auth(shop_key))
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/jobs", params=params, headers=auth(shop_key)).json()
        seen += [j["id"] for j in page["jobs"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids
    cancelled = client.get("/v1/jobs", params={"state": "cancelled"}, headers=auth(shop_key))
    assert [j["id"] for j in cancelled.json()["jobs"]] == [ids[1]]
    r = client.get("/v1/jobs", params={"state": "lost"}, headers=auth(shop_key))
    assert r.status_code == 422 and "state" in r.json()["message"]
    r = client.get("/v1/jobs", params={"cursor": "zzz"}, headers=auth(shop_key))
    assert r.status_code == 422 and "cursor" in r.json()["message"]


def test_batches_json_and_csv_in_card_order(service, shop_key):
    client, _ = service
    r = client.post("/v1/batches", json={"jobs": [{**BODY, "greeting": f"Hallo {n},"}
                                                  for n in ("Anna", "Ben")]},
                    headers=auth(shop_key))
    assert r.status_code == 201
    batch = r.json()
    assert [j["request"]["greeting"] for j in batch["jobs"]] == ["Hallo Anna,", "Hallo Ben,"]
    assert batch["states"] == {"received": 2}
    got = client.get(f"/v1/batches/{batch['id']}", headers=auth(shop_key)).json()
    assert got["states"] == {"rendered": 2}
    client.put("/v1/templates/spaet", json={"template": "es tut uns leid, {{ vorname }}!",
                                            "greeting": "Liebe/r {{ vorname }},", "font": "tech"},
               headers=auth(shop_key))
    csv_text = ("vorname,recipient_name,recipient_street,recipient_postcode,recipient_city\n"
                "Jürgen,Jürgen Groß,Lindenstraße 5,50667,Köln\n"
                "Aylin,Aylin Şahin,Am Markt 1,04109,Leipzig\n")
    r = client.post("/v1/batches", params={"template_name": "spaet"}, content=csv_text.encode(),
                    headers={**auth(shop_key), "Content-Type": "text/csv"})
    assert r.status_code == 201, r.text
    jobs = r.json()["jobs"]
    assert [j["request"]["fields"]["vorname"] for j in jobs] == ["Jürgen", "Aylin"]
    assert jobs[0]["request"]["recipient"]["city"] == "Köln"
    got = client.get(f"/v1/batches/{r.json()['id']}", headers=auth(shop_key)).json()
    assert [j["id"] for j in got["jobs"]] == [j["id"] for j in jobs]
    listed = client.get("/v1/jobs", params={"batch_id": got["id"]}, headers=auth(shop_key))
    assert [j["id"] for j in listed.json()["jobs"]] == [j["id"] for j in jobs]
    r = client.post("/v1/batches", content=csv_text.encode(),
                    headers={**auth(shop_key), "Content-Type": "text/csv"})
    assert r.status_code == 422 and "template_name" in r.json()["message"]
    bad = "vorname\nKalle 😀\n"
    r = client.post("/v1/batches", params={"template_name": "spaet"}, content=bad.encode(),
                    headers={**auth(shop_key), "Content-Type": "text/csv"})
    assert r.status_code == 422 and r.json()["message"].startswith("jobs[0].greeting, message: ")


def test_templates_and_shop_settings(service, shop_key):
    client, _ = service
    r = client.put("/v1/templates/dank", json={"template": "Danke, {{ name }}."},
                   headers=auth(shop_key))
    assert r.status_code == 200
    assert [t["name"] for t in client.get("/v1/templates", headers=auth(shop_key)).json()] == [
        "dank"]
    job = submit(client, shop_key, {"template_name": "dank", "fields": {"name": "Özlem"},
                                    "font": "tech", "seed": 1})
    assert job.status_code == 201
    assert client.delete("/v1/templates/dank", headers=auth(shop_key)).status_code == 204
    assert client.get("/v1/templates/dank", headers=auth(shop_key)).status_code == 404
    r = client.patch("/v1/shop", json={"default_font": "comic"}, headers=auth(shop_key))
    assert r.status_code == 422 and "comic" in r.json()["message"]
    r = client.patch("/v1/shop", json={"default_font": "allure"}, headers=auth(shop_key))
    assert r.json()["default_font"] == "allure" and r.json()["webhook_secret"].startswith("whsec_")


def test_rate_limit_answers_429_with_retry_after(make_store):
    store = make_store(rate_limit_per_minute=3)
    key = store.create_shop("Busy")[1]
    with TestClient(create_app(store.settings, store=store)) as client:
        codes = [client.get("/v1/jobs", headers=auth(key)).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = client.get("/v1/jobs", headers=auth(key))
        assert 1 <= int(r.headers["retry-after"]) <= 61


def test_names_beyond_latin_1_print_on_the_preview_and_the_labels(service, shop_key):
    import shutil
    import subprocess

    from pypdf import PdfReader

    from tests.conftest import need_tool

    client, _ = service
    people = [("Aylin Şahin", "Schloßstraße 4", "Köln", "50667"),
              ("Łukasz Nowak", "Łąkowa 5", "Berlin", "10115")]
    jobs = [{**BODY, "seed": i, "recipient": {"name": name, "street_lines": [street],
                                               "postcode": postcode, "city": city}}
            for i, (name, street, city, postcode) in enumerate(people)]
    first = submit(client, shop_key, jobs[0])
    assert first.status_code == 201, first.text
    job = client.get(first.json()["links"]["self"], headers=auth(shop_key)).json()
    assert job["state"] == "rendered", job["error"]
    pdf = client.get(job["links"]["preview_pdf"], headers=auth(shop_key)).content
    address = PdfReader(io.BytesIO(pdf)).pages[1].extract_text()
    assert "Aylin Şahin" in address and "Schloßstraße 4" in address
    again = client.get(job["links"]["preview_pdf"], headers=auth(shop_key)).content
    assert again == pdf

    batch = client.post("/v1/batches", json={"jobs": jobs}, headers=auth(shop_key))
    assert batch.status_code == 201, batch.text
    assert {j["state"] for j in batch.json()["jobs"]} == {"received"}
    labels = client.get(f"/v1/batches/{batch.json()['id']}/labels.pdf", headers=auth(shop_key))
    assert labels.status_code == 200, labels.text
    text = PdfReader(io.BytesIO(labels.content)).pages[0].extract_text()
    for name, street, *_ in people:
        assert name in text and street in text
    need_tool(shutil.which("pdftotext") is not None,
              "pdftotext is not installed (apt-get install poppler-utils)")
    poppler = subprocess.run(["pdftotext", "-", "-"], input=labels.content,
                             capture_output=True, check=True, timeout=60).stdout.decode()
    assert "Aylin Şahin" in poppler and "Łukasz Nowak" in poppler and "Łąkowa 5" in poppler


def test_an_address_the_print_font_lacks_is_a_422_naming_it(service, shop_key):
    client, _ = service
    recipient = {"name": "山田 Łukasz", "street_lines": ["Łąkowa 5"], "postcode": "10115",
                 "city": "Berlin"}
    r = submit(client, shop_key, {**BODY, "recipient": recipient})
    assert r.status_code == 422, r.text
    message = r.json()["message"]
    assert message.startswith("recipient.name: ")
    assert "'山' (U+5C71 CJK UNIFIED IDEOGRAPH-5C71)" in message
    assert "'田' (U+7530 CJK UNIFIED IDEOGRAPH-7530)" in message and "Ł" not in message
    # the sender prints on the coupon insert
    sender = {**recipient, "name": "Blumenladen 東"}
    coupon = {"kind": "amount", "amount": "5.00"}
    r = submit(client, shop_key, {**BODY, "sender": sender, "coupon": coupon})
    assert r.status_code == 422 and r.json()["message"].startswith("sender.name: ")
    assert "U+6771" in r.json()["message"]
    assert client.get("/v1/jobs", headers=auth(shop_key)).json()["jobs"] == []


def test_database_away_is_a_503_and_stores_nothing(tmp_path):
    settings = Settings(data_dir=tmp_path,
                        database_url="postgresql+psycopg://postgres@127.0.0.1:1/none")
    with TestClient(create_app(settings, store=Store(settings))) as client:
        r = client.post("/v1/jobs", json=BODY, headers=auth("pp_whatever"))
    assert r.status_code == 503 and "nothing was stored" in r.json()["message"]
    assert r.headers["retry-after"] == "5"


def test_batch_companions_come_out_in_card_order(service, shop_key):
    import csv

    from pypdf import PdfReader

    from cards.codes import check_code

    client, store = service
    names = ["Anna Groß", "Ben Müller", "Cem Öztürk"]
    jobs = [{**BODY, "seed": i, "recipient": {"name": n, "street_lines": [f"Lindenstraße {i + 1}"],
                                               "postcode": "50667", "city": "Köln"},
             "coupon": {"kind": "amount", "amount": "10.00", "currency": "EUR",
                        "expires": "2027-03-31", "redeem_url": "https://shop.example/redeem"}}
            for i, n in enumerate(names)]
    jobs[1]["coupon"]["code"] = "SORRY-BEN"
    batch = client.post("/v1/batches", json={"jobs": jobs}, headers=auth(shop_key)).json()
    base = f"/v1/batches/{batch['id']}"
    ids = [j["id"] for j in batch["jobs"]]

    rows = list(csv.reader(io.StringIO(client.get(f"{base}/packing-list.csv",
                                                  headers=auth(shop_key)).text)))
    assert rows[0] == ["order", "job_id", "recipient", "coupon_code"]
    assert [r[1] for r in rows[1:]] == ids
    assert rows[1][0] == f"1/3 · {ids[0][4:12]}" and "Anna Groß" in rows[1][2]
    codes = [r[3] for r in rows[1:]]
    assert codes[1] == "SORRY-BEN" and check_code(codes[0]) and check_code(codes[2])
    assert len(set(codes)) == 3

    labels = client.get(f"{base}/labels.pdf", params={"start": 5}, headers=auth(shop_key))
    assert labels.headers["content-type"] == "application/pdf"
    text = PdfReader(io.BytesIO(labels.content)).pages[0].extract_text()
    positions = [text.index(name) for name in names]
    assert positions == sorted(positions)  # card order
    assert "3/3 · " + ids[2][4:12] in text

    coupons = client.get(f"{base}/coupons.pdf", headers=auth(shop_key))
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(coupons.content)).pages)
    assert "10,00 €" in text and "Blumenladen Sonnenschein" in text
    spots = [text.index(code) for code in codes]
    assert spots == sorted(spots)

    again = {**jobs[0], "seed": 99, "coupon": {**jobs[0]["coupon"], "code": "SORRY-BEN"}}
    r = submit(client, shop_key, again)
    assert r.status_code == 422 and "already used by job" in r.json()["message"]
    other = store.create_shop("Konkurrenz")[1]
    assert client.get(f"{base}/labels.pdf", headers=auth(other)).status_code == 404
    r = client.get(f"{base}/labels.pdf", params={"sheet": "nope"}, headers=auth(shop_key))
    assert r.status_code == 422 and "zweckform-3475" in r.json()["message"]
