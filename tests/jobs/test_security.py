"""Security: sandboxed templates, artifact downloads that cannot leave the data directory,
shop isolation on every route of the API, key revocation."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jobs.api import create_app
from jobs.db import Artifact
from jobs.schema import JobError, render_template
from jobs.store import NotFoundError

BODY = {"message": "Es tut uns leid.", "font": "tech", "seed": 3}


@pytest.mark.parametrize("template", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ vorname.__class__.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
])
def test_templates_cannot_reach_python_internals(make_store, template):
    store = make_store()
    shop = store.create_shop("Sandbox")[0]
    with pytest.raises(JobError, match="template"):
        store.submit(shop, {"template": template, "fields": {"vorname": "Anna"},
                            "font": "tech"})


@pytest.mark.parametrize(("template", "why"), [
    ("{{ 'a' * 100000000 }}", "'\\*' would make 100000000 items"),
    ("{{ ((10**60)**60)**60 }}", "'\\*\\*' would make a number"),
    ("{{ '{:>100000000}'.format(1) }}", "unsafe"),
    ("{{ 'a'.ljust(100000000) }}", "unsafe"),
    ("{{ vorname['center'](100000000) }}", "unsafe"),
    ("{{ 'a'|center(100000000) }}", "No filter named 'center'"),
    ("{{ '%100000000s' % vorname }}", "'%' formatting"),
    ("{% for i in range(10**6) %}x{% endfor %}", "range\\(\\) of 1000000 numbers"),
    ("{% for i in range(999) %}{% for j in range(999) %}{% endfor %}{% endfor %}",
     "a loop inside a loop"),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "a macro"),
    ("{% for i in range(999) %}{{ vorname * 999 }}{% endfor %}", "beyond 20000 characters"),
])
def test_templates_cannot_exhaust_the_service(make_store, template, why):
    """A shop's template that would build a text of 100 MB, a number of millions of
    digits, or loop a billion times is refused by name, at once, before anything is
    stored."""
    store = make_store()
    shop = store.create_shop("Sandbox")[0]
    with pytest.raises(JobError, match=f"template: .*{why}"):
        store.submit(shop, {"template": template, "fields": {"vorname": "Anna"},
                            "font": "tech"})
    assert store.list_jobs(shop.id)[0] == []


def test_a_stored_template_is_checked_when_stored(make_store):
    store = make_store()
    shop = store.create_shop("Sandbox")[0]
    with pytest.raises(JobError, match="template: .*a loop inside a loop"):
        store.put_template(shop.id, "nested", {
            "template": "{% for a in x %}{% for b in x %}{% endfor %}{% endfor %}"})
    with pytest.raises(JobError, match="greeting: the template cannot be read"):
        store.put_template(shop.id, "broken", {"template": "Hallo", "greeting": "{{ name"})
    assert store.templates(shop.id) == []


def test_ordinary_templates_still_work():
    fields = {"vorname": "anna", "artikel": ["Vase", "Tasse"], "betrag": 12.5}
    text = render_template(
        "Liebe {{ vorname|title }}, {% for a in artikel %}{{ a }}{% if not loop.last %} "
        "und {% endif %}{% endfor %} kommen neu. {{ (betrag * 2)|round(1) }} {{ '-' * 3 }}",
        fields, "template")
    assert text == "Liebe Anna, Vase und Tasse kommen neu. 25.0 ---"


def test_merge_field_values_are_text_not_templates(make_store):
    store = make_store()
    shop = store.create_shop("Sandbox")[0]
    job = store.submit(shop, {"template": "Liebe {{ vorname }}, es tut uns leid.",
                              "fields": {"vorname": "{{ 7 * 7 }}"}, "font": "tech"}).job
    from jobs.schema import parse_job

    assert parse_job(job.request).texts()["body"] == "Liebe {{ 7 * 7 }}, es tut uns leid."


def test_artifact_paths_cannot_leave_the_data_directory(make_store):
    store = make_store()
    shop = store.create_shop("Paths")[0]
    job = store.submit(shop, BODY).job
    with store.session() as s:
        row = s.scalar(select(Artifact).where(Artifact.job_id == job.id,
                                              Artifact.name == "card.svg"))
        row.path = "../../../../etc/passwd"
    artifact = store.artifacts(job)["card.svg"]
    with pytest.raises(NotFoundError, match="outside the data directory"):
        store.artifact_path(artifact)
    with TestClient(create_app(store.settings, store=store)) as client:
        key = store.create_key(shop.id)
        r = client.get(f"/v1/jobs/{job.id}/card.svg", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 404 and "root:" not in r.text


def test_every_route_is_closed_to_other_shops_and_to_revoked_keys(make_store):
    store = make_store()
    shop, key = store.create_shop("Owner")
    _, other = store.create_shop("Other")
    job = store.submit(shop, BODY).job
    batch, _, _ = store.submit_batch(shop, [BODY])
    store.put_template(shop.id, "mine", {"template": "Hallo {{ name }}"})
    with TestClient(create_app(store.settings, store=store)) as client:
        schema = client.get("/openapi.json").json()
        ids = {"job_id": job.id, "batch_id": batch.id, "name": "mine"}
        checked = 0
        for path, methods in schema["paths"].items():
            if "{" not in path:
                continue  # lists and creation are per key by construction
            url = path.format(**ids)
            for method in methods:
                if method == "put":
                    continue  # PUT /templates/{name} creates the other shop's own template
                body = ({"message": "x"} if method == "patch" else
                        {"reason": "x"} if path.endswith(("/reject", "/cancel")) else None)
                r = client.request(method.upper(), url, json=body,
                                   headers={"Authorization": f"Bearer {other}"})
                assert r.status_code == 404, (method, path, r.status_code, r.text)
                checked += 1
        assert checked >= 15
        mine = {"Authorization": f"Bearer {key}"}
        assert client.get(f"/v1/jobs/{job.id}", headers=mine).status_code == 200
        assert store.revoke_key(shop.id, key[:10]) == 1
        assert client.get(f"/v1/jobs/{job.id}", headers=mine).status_code == 401
