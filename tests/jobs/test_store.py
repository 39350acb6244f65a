"""The store on SQLite and PostgreSQL: submit, render, transitions, audit, idempotency,
batches, edits, the sweeper and optimistic locking."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm.exc import StaleDataError

from jobs.db import Job, Transition, utcnow
from jobs.schema import JobError
from jobs.settings import Settings
from jobs.states import State, TransitionError
from jobs.store import ConflictError, NotFoundError, Store
from jobs.tasks import render_stored_job

BODY = {"message": "Es tut uns leid, dass Ihr Paket zu spät kam. Herzliche Grüße",
        "greeting": "Liebe Frau Weiß,", "font": "tech", "seed": 7}


def count_jobs(store) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(Job))


def states_of(store, job_id: str) -> list[tuple[str | None, str]]:
    with store.session() as s:
        rows = s.scalars(select(Transition).where(Transition.job_id == job_id)
                         .order_by(Transition.id))
        return [(r.from_state, r.to_state) for r in rows]


@pytest.fixture
def shop(store):
    return store.create_shop("Blumenladen Sonnenschein")[0]


def test_submit_renders_and_records_whole_artifacts(store, shop):
    job = store.submit(shop, BODY).job
    job = store.job(shop.id, job.id)
    assert job.state == "rendered" and job.seed == 7 and job.plot_seconds > 10
    artifacts = store.artifacts(job)
    assert set(artifacts) >= {"card.svg", "card.png", "card.gcode", "preview.pdf", "job.json"}
    for artifact in artifacts.values():
        content = store.artifact_path(artifact).read_bytes()
        assert hashlib.sha256(content).hexdigest() == artifact.sha256
        assert len(content) == artifact.size
    assert states_of(store, job.id) == [(None, "received"), ("received", "rendered")]


def test_render_twice_writes_the_same_bytes(store, shop):
    job = store.submit(shop, BODY).job
    first = {n: a.sha256 for n, a in store.artifacts(job).items()}
    with store.session() as s:  # pretend the first render's bookkeeping was lost
        row = s.get(Job, job.seq)
        row.state = "received"
    assert render_stored_job(store, job.id, 1) == "rendered"
    assert {n: a.sha256 for n, a in store.artifacts(store.job(None, job.id)).items()} == first


def test_seed_is_chosen_and_recorded_when_absent(store, shop):
    body = {k: v for k, v in BODY.items() if k != "seed"}
    job = store.submit(shop, body).job
    assert isinstance(job.seed, int) and job.request["seed"] == job.seed


def test_bad_input_names_the_problem_and_stores_nothing(store, shop):
    with pytest.raises(JobError, match=r"U\+1F600"):
        store.submit(shop, {**BODY, "message": "Entschuldigung 😀"})
    with pytest.raises(JobError, match="font"):
        store.submit(shop, {**BODY, "font": "comic-sans"})
    with pytest.raises(JobError, match="too long"):
        store.submit(shop, {**BODY, "message": "Entschuldigung! " * 200, "card": "us-a2"})
    with pytest.raises(JobError, match="recipient.city"):
        store.submit(shop, {**BODY, "recipient": {"name": "A", "street_lines": ["B 1"]}})
    assert count_jobs(store) == 0


def test_idempotency_key_returns_the_same_job_or_conflicts(store, shop):
    first = store.submit(shop, BODY, idempotency_key="order-4711")
    again = store.submit(shop, BODY, idempotency_key="order-4711")
    assert first.created and not again.created and again.job.id == first.job.id
    with pytest.raises(ConflictError, match="order-4711"):
        store.submit(shop, {**BODY, "seed": 8}, idempotency_key="order-4711")
    other = store.create_shop("Another shop")[0]  # keys are per shop
    assert store.submit(other, BODY, idempotency_key="order-4711").created
    assert count_jobs(store) == 2


def test_batch_is_all_or_nothing_and_keeps_card_order(store, shop):
    bodies = [{**BODY, "greeting": f"Hallo {name},"} for name in ("Anna", "Ben", "Cem")]
    with pytest.raises(JobError, match=r"^jobs\[1\]\.font"):
        store.submit_batch(shop, [bodies[0], {**bodies[1], "font": "nope"}, bodies[2]])
    assert count_jobs(store) == 0
    batch, jobs, created = store.submit_batch(shop, bodies, idempotency_key="b1")
    assert created and batch.size == 3
    ordered = store.batch_jobs(shop.id, batch.id)
    assert [j.request["greeting"] for j in ordered] == ["Hallo Anna,", "Hallo Ben,", "Hallo Cem,"]
    assert [j.batch_index for j in ordered] == [0, 1, 2]
    again = store.submit_batch(shop, bodies, idempotency_key="b1")
    assert not again[2] and again[0].id == batch.id


def test_approval_queues_and_the_table_refuses_the_rest(store, shop):
    job = store.submit(shop, BODY).job
    queued = store.approve(shop.id, job.id, "approver")
    assert queued.state == "queued" and queued.queue_seq is not None
    with pytest.raises(TransitionError, match="the job is queued") as error:
        store.approve(shop.id, job.id, "approver")
    assert error.value.current is State.QUEUED
    with pytest.raises(TransitionError, match="the job is queued"):
        store.reject(shop.id, job.id, "approver", "too late")
    store.cancel(shop.id, job.id, "shop", "customer called")
    with pytest.raises(TransitionError, match="cancelled"):
        store.edit(shop.id, job.id, {"message": "Neu"}, "shop")
    assert states_of(store, job.id) == [(None, "received"), ("received", "rendered"),
                                        ("rendered", "approved"), ("approved", "queued"),
                                        ("queued", "cancelled")]


def test_edit_makes_a_new_revision_and_approval_starts_over(store, shop):
    job = store.submit(shop, BODY).job
    old = store.artifacts(job)
    edited = store.edit(shop.id, job.id, {"message": "Es tut uns sehr leid."}, "shop")
    edited = store.job(shop.id, job.id)
    assert edited.revision == 2 and edited.state == "rendered" and edited.seed == 7
    assert edited.request["message"] == "Es tut uns sehr leid."
    new = store.artifacts(edited)
    assert new["card.gcode"].sha256 != old["card.gcode"].sha256
    assert "/r2/" in new["card.gcode"].path and "/r1/" in old["card.gcode"].path
    assert ("rendered", "received") in states_of(store, job.id)
    with pytest.raises(JobError, match="seed"):
        store.edit(shop.id, job.id, {"seed": 3}, "shop")
    with pytest.raises(JobError, match=r"U\+2603"):
        store.edit(shop.id, job.id, {"message": "☃"}, "shop")
    assert store.job(shop.id, job.id).revision == 2


def test_a_render_of_an_unknown_job_is_dropped_quietly(store):
    assert render_stored_job(store, "job_not_here", 1) == "stale"


def test_a_render_of_an_old_revision_is_dropped(store, shop):
    store.dispatcher.run = False
    job = store.submit(shop, BODY).job
    store.edit(shop.id, job.id, {"message": "Zweiter Text."}, "shop")
    assert render_stored_job(store, job.id, 1) == "stale"
    assert store.job(None, job.id).state == "received"
    assert render_stored_job(store, job.id, 2) == "rendered"


def test_render_error_moves_the_job_to_failed_with_the_reason(make_store, backend, tmp_path):
    tiny = tmp_path / "tiny.toml"
    tiny.write_text(open("plotter/profiles/grbl-servo.toml").read()
                    .replace("bed_width_mm = ", "bed_width_mm = 50 #").replace(
                        "bed_height_mm = ", "bed_height_mm = 50 #"))
    store = make_store(backend, profile=str(tiny))
    shop = store.create_shop("S")[0]
    job = store.job(None, store.submit(shop, BODY).job.id)
    assert job.state == "failed" and "does not fit machine profile" in job.error
    assert states_of(store, job.id)[-1] == ("received", "failed")


def test_shops_never_see_each_others_jobs(store, shop):
    job = store.submit(shop, BODY).job
    other = store.create_shop("Other")[0]
    with pytest.raises(NotFoundError):
        store.job(other.id, job.id)
    with pytest.raises(NotFoundError):
        store.approve(other.id, job.id, "x")
    assert store.list_jobs(other.id)[0] == []


def test_cursor_pagination_walks_every_job_once(store, shop):
    store.dispatcher.run = False
    ids = [store.submit(shop, {**BODY, "seed": i}).job.id for i in range(5)]
    seen, cursor = [], None
    while True:
        page, cursor = store.list_jobs(shop.id, cursor=cursor, limit=2)
        seen += [j.id for j in page]
        if cursor is None:
            break
    assert seen == ids
    assert [j.id for j in store.list_jobs(shop.id, state="received")[0]] == ids
    with pytest.raises(JobError, match="cursor"):
        store.list_jobs(shop.id, cursor="garbage!")


def test_sweep_resends_lost_renders_and_nothing_else(store, shop):
    store.dispatcher.run = False
    job = store.submit(shop, BODY).job
    assert store.dispatcher.sent == [("render", (job.id, 1))]
    assert store.sweep() == (0, 0)  # not stale yet
    later = utcnow() + timedelta(seconds=store.settings.render_stale_s + 1)
    assert store.sweep(later) == (1, 0)
    assert store.dispatcher.sent[-1] == ("render", (job.id, 1))
    assert store.sweep(later) == (0, 0)  # sent again just now
    render_stored_job(store, job.id, 1)
    assert store.sweep(later + timedelta(hours=1)) == (0, 0)


def test_a_lost_update_is_refused(store, shop):
    store.dispatcher.run = False
    job = store.submit(shop, BODY).job
    first, second = store.sessions(), store.sessions()
    try:
        a = first.scalar(select(Job).where(Job.id == job.id))
        b = second.scalar(select(Job).where(Job.id == job.id))
        a.state = "cancelled"
        first.commit()
        b.error = "stale writer"
        with pytest.raises(StaleDataError):
            second.commit()
    finally:
        first.close()
        second.close()


def test_templates_with_merge_fields(store, shop):
    store.put_template(shop.id, "spaet", {"template": "es tut uns leid, {{ vorname }}.",
                                          "greeting": "Liebe {{ vorname }},", "font": "tech"})
    job = store.submit(shop, {"template_name": "spaet", "fields": {"vorname": "Jürgen"}}).job
    assert job.request["font"] == "tech"
    with pytest.raises(JobError, match="'vorname'"):
        store.submit(shop, {"template_name": "spaet", "fields": {"name": "x"}})
    with pytest.raises(JobError, match="template_name"):
        store.submit(shop, {"template_name": "unknown"})


def test_shop_defaults_fill_font_and_card(store, shop):
    store.update_shop(shop.id, {"default_font": "allure", "default_card": "us-a2"})
    shop = store.shop_by_name(shop.name)
    job = store.submit(shop, {"message": "Sorry!", "language": "en"}).job
    assert (job.request["font"], job.request["card"]) == ("allure", "us-a2")
    job = store.submit(shop, {"message": "Sorry!", "font": "tech"}).job
    assert job.request["font"] == "tech"


def test_keys_are_stored_hashed_and_can_be_revoked(store):
    shop, key = store.create_shop("Keyed")
    assert store.authenticate(key).id == shop.id
    with store.session() as s:
        from jobs.db import ApiKey

        stored = s.scalar(select(ApiKey.key_sha256))
    assert key not in stored and stored == hashlib.sha256(key.encode()).hexdigest()
    assert store.revoke_key(shop.id, key[:10]) == 1
    assert store.authenticate(key) is None
    assert store.authenticate("pp_nonsense") is None


ADDRESS = {"name": "Erika Müller", "street_lines": ["Hauptstraße 12"], "postcode": "10115",
           "city": "Berlin", "country": "DE"}


def test_malformed_addresses_name_the_field_and_the_rule(store, shop):
    with pytest.raises(JobError, match=r"recipient.postcode: .*'1234'.*postal code format of DE"):
        store.submit(shop, {**BODY, "recipient": {**ADDRESS, "postcode": "1234"}})
    with pytest.raises(JobError, match=r"sender.postcode"):
        store.submit(shop, {**BODY, "recipient": ADDRESS,
                            "sender": {**ADDRESS, "country": "AT", "postcode": "123456"}})
    assert count_jobs(store) == 0


def test_a_handwritten_envelope_is_rendered_with_the_card(store, shop):
    from cards.preview import pdf_strokes

    sender = {"name": "Blumenladen Sonnenschein", "street_lines": ["Gartenweg 3"],
              "postcode": "1010", "city": "Wien", "country": "AT"}
    job = store.submit(shop, {**BODY, "recipient": ADDRESS, "sender": sender,
                              "delivery": "envelope", "envelope": "dl"}).job
    job = store.job(None, job.id)
    assert job.state == "rendered", job.error
    artifacts = store.artifacts(job)
    assert {"envelope.gcode", "envelope.svg", "preview.pdf"} <= set(artifacts)
    pdf = store.artifact_path(artifacts["preview.pdf"]).read_bytes()
    import io

    from pypdf import PdfReader

    pages = PdfReader(io.BytesIO(pdf)).pages
    assert len(pages) == 2
    assert float(pages[1].mediabox.width) == pytest.approx(220 / 25.4 * 72, abs=0.05)  # DL
    assert len(pdf_strokes(pdf, page=1)) > 20
    with pytest.raises(JobError, match="envelope: .*c99"):
        store.submit(shop, {**BODY, "recipient": ADDRESS, "delivery": "envelope",
                            "envelope": "c99"})
    with pytest.raises(JobError, match="needs a 'recipient'"):
        store.submit(shop, {**BODY, "delivery": "envelope"})


def _race_on_idempotency(store, threads: int) -> threading.Barrier:
    """Make ``threads`` concurrent requests all look their key up, find nothing, and only
    then go on to insert: the race that two clients retrying at once can hit."""
    barrier = threading.Barrier(threads, timeout=60)
    look_up = store._by_idempotency

    def look_up_then_wait(*args):
        found = look_up(*args)
        if found is None:
            barrier.wait()
        return found

    store._by_idempotency = look_up_then_wait
    store.dispatcher.run = False  # no render needed
    return barrier


def _run_together(threads: int, call) -> list:
    results: list = [None] * threads

    def run(index: int) -> None:
        try:
            results[index] = call()
        except Exception as error:  # noqa: BLE001 - reported by the assertions
            results[index] = error

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    return results


def test_concurrent_requests_with_one_key_get_the_one_job(store, shop):
    threads = 4
    _race_on_idempotency(store, threads)
    results = _run_together(threads, lambda: store.submit(shop, BODY, idempotency_key="o-1"))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({r.job.id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert count_jobs(store) == 1


def test_concurrent_batches_with_one_key_get_the_one_batch(store, shop):
    threads = 3
    bodies = [{**BODY, "greeting": f"Hallo {name},"} for name in ("Anna", "Ben")]
    _race_on_idempotency(store, threads)
    results = _run_together(threads, lambda: store.submit_batch(shop, bodies,
                                                                idempotency_key="b-1"))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({batch.id for batch, _, _ in results}) == 1
    assert sum(created for _, _, created in results) == 1
    assert all([j.batch_index for j in jobs] == [0, 1] for _, jobs, _ in results)
    assert count_jobs(store) == 2


def test_concurrent_jobs_with_one_coupon_code_get_a_422_not_a_503(store, shop):
    """Two jobs giving the same coupon code at the same moment both find it free; the
    unique constraint lets one in, the other is told which job has the code."""
    threads = 2
    barrier = threading.Barrier(threads, timeout=60)
    assign = store._assign_coupon

    def assign_then_wait(*args):
        assigned = assign(*args)
        barrier.wait()  # both have found the code free before either stores it
        return assigned

    store._assign_coupon = assign_then_wait
    store.dispatcher.run = False
    body = {**BODY, "coupon": {"kind": "percent", "amount": "10", "code": "SORRY-2026"}}
    results = _run_together(threads, lambda: store.submit(shop, body))
    stored = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, JobError)]
    assert len(stored) == 1 and len(refused) == 1, results
    assert f"coupon.code: 'SORRY-2026' is already used by job {stored[0].job.id}" in str(refused[0])
    assert count_jobs(store) == 1


def test_concurrent_requests_with_one_key_and_another_body_conflict(store, shop):
    _race_on_idempotency(store, 2)
    bodies = [BODY, {**BODY, "seed": 8}]
    calls = iter(bodies)
    lock = threading.Lock()

    def submit_next():
        with lock:
            body = next(calls)
        return store.submit(shop, body, idempotency_key="o-2")

    results = _run_together(2, submit_next)
    created = [r for r in results if not isinstance(r, Exception)]
    conflicts = [r for r in results if isinstance(r, ConflictError)]
    assert len(created) == 1 and created[0].created and len(conflicts) == 1, results
    assert "o-2" in str(conflicts[0])
    assert count_jobs(store) == 1


def _migrate_at_once(url: str, data_dir: str, barrier, errors) -> None:
    """One process of the migration race: wait for the others, then migrate."""
    from jobs.settings import Settings
    from jobs.store import Store

    store = Store(Settings(data_dir=Path(data_dir), database_url=url))
    try:
        barrier.wait(timeout=120)
        store.migrate()
    except Exception as error:  # noqa: BLE001 - reported to the test
        errors.put(f"{type(error).__name__}: {error}"[:300])
        raise


@pytest.mark.slow  # four fresh interpreters import the service: about 8 s on two cores
def test_processes_migrating_one_fresh_sqlite_file_at_once_all_succeed(tmp_path):
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # no fork of a threaded test process
    processes = 4
    barrier, errors = context.Barrier(processes), context.Queue()
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    workers = [context.Process(target=_migrate_at_once,
                               args=(url, str(tmp_path / "data"), barrier, errors))
               for _ in range(processes)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    failed = []
    while not errors.empty():
        failed.append(errors.get())
    assert [w.exitcode for w in workers] == [0] * processes, failed
    settings = Settings(data_dir=tmp_path / "data", database_url=url)
    store = Store(settings)
    store.migrate()  # at head: nothing left to do
    assert count_jobs(store) == 0
    store.engine.dispose()


def test_sqlite_runs_in_wal_mode(make_store, tmp_path):
    store = make_store(f"sqlite:///{tmp_path / 'wal.db'}")
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert (tmp_path / "wal.db-wal").exists()


def test_an_unexpected_render_error_fails_the_job_naming_it(store, shop, monkeypatch):
    import jobs.tasks

    def broken(*args, **kwargs):
        raise ValueError("a bug in the layout")

    monkeypatch.setattr(jobs.tasks, "render_job", broken)
    store.dispatcher.run = False
    job = store.submit(shop, BODY).job
    assert render_stored_job(store, job.id, 1) == "failed"
    job = store.job(shop.id, job.id)
    assert job.state == "failed"
    assert job.error == "internal render error: ValueError: a bug in the layout"
    with store.session() as s:
        last = s.scalars(select(Transition).where(Transition.job_id == job.id)
                         .order_by(Transition.id.desc())).first()
    assert (last.from_state, last.to_state, last.reason) == ("received", "failed", job.error)
    assert store.sweep(utcnow() + timedelta(hours=1)) == (0, 0)  # nothing is sent again


def test_a_database_error_while_rendering_stays_retryable(store, shop, monkeypatch):
    from sqlalchemy.exc import OperationalError

    import jobs.tasks

    def database_away(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    monkeypatch.setattr(jobs.tasks, "render_job", database_away)
    store.dispatcher.run = False
    job = store.submit(shop, BODY).job
    with pytest.raises(OperationalError):  # Celery retries the task (autoretry_for)
        render_stored_job(store, job.id, 1)
    assert store.job(shop.id, job.id).state == "received"
    monkeypatch.undo()
    assert render_stored_job(store, job.id, 1) == "rendered"
