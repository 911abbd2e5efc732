"""gunicorn builds the app once in the master (``preload_app``) and forks workers from
it: each worker must talk to PostgreSQL and Redis over sockets of its own, and the
master's connections must stay usable (closing them would cut the parent's session)."""

import os

from sqlalchemy import text

from hotline.app import after_fork
from hotline.extensions import db
from hotline.services import contacts


def test_a_forked_worker_opens_its_own_connections_and_leaves_the_parents_alone(app):
    backend = db.session.scalar(text("SELECT pg_backend_pid()"))
    db.session.remove()  # the connection goes back to the pool, where a fork would find it
    with app.app_context(), contacts.autocommit() as conn:  # the USSD statements' engine
        ussd_backend = conn.scalar(text("SELECT pg_backend_pid()"))
    client = app.extensions["hotline.redis"]
    redis_id = client.client_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: what gunicorn's post_fork hook runs, then a request's work
        code = 1
        try:
            after_fork(app)
            with app.app_context():
                mine = db.session.scalar(text("SELECT pg_backend_pid()"))
                db.session.remove()
                with contacts.autocommit() as conn:
                    ussd_mine = conn.scalar(text("SELECT pg_backend_pid()"))
            os.write(write, f"{mine} {client.client_id()} {ussd_mine}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    answer = os.read(read, 100).decode().split()
    os.close(read)
    assert status == 0 and len(answer) == 3
    assert int(answer[0]) != backend and int(answer[1]) != redis_id
    assert int(answer[2]) not in (backend, ussd_backend)
    assert db.session.scalar(text("SELECT pg_backend_pid()")) == backend  # still the parent's
    assert client.client_id() == redis_id
    with app.app_context(), contacts.autocommit() as conn:
        assert conn.scalar(text("SELECT pg_backend_pid()")) == ussd_backend
