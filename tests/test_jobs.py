"""Background jobs through a real rq worker, and inline when there is no Redis."""

import json
import zlib

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo

from hotline.cli import cli
from hotline.jobqueue import QUEUES, jobs


def test_hotline_worker_runs_the_jobs_of_every_queue(app):
    queue = jobs()
    queue.enqueue("tests.jobfixtures.remember", "bulk-job", "done", queue="bulk")
    queue.enqueue("tests.jobfixtures.remember", "reply-job", "done", queue="replies")
    assert [queue.queues[name].count for name in QUEUES] == [1, 0, 1]
    result = CliRunner().invoke(cli, ["worker", "--burst"],
                                obj=ScriptInfo(create_app=lambda: app))
    assert result.exit_code == 0, result.output
    store = app.extensions["hotline.store"]
    assert store.get("reply-job") == b"done" and store.get("bulk-job") == b"done"
    assert [queue.queues[name].count for name in QUEUES] == [0, 0, 0]


def test_without_redis_jobs_run_inline_and_no_worker_is_needed(make_app):
    app = make_app(REDIS_URL="")
    with app.app_context():
        jobs().enqueue("tests.jobfixtures.remember", "inline", "yes")
        assert app.extensions["hotline.store"].get("inline") == b"yes"
    result = CliRunner().invoke(cli, ["worker", "--burst"],
                                obj=ScriptInfo(create_app=lambda: app))
    assert result.exit_code == 1 and "no worker is needed" in result.output


def test_jobs_are_stored_as_json_never_pickle(app):
    queue = jobs()
    queue.enqueue("tests.jobfixtures.remember", "json-job", "done")
    job = queue.queues["default"].jobs[0]
    raw = queue.connection.hget(f"rq:job:{job.id}", "data")
    assert json.loads(zlib.decompress(raw))[0] == "tests.jobfixtures.remember"
    assert not raw.startswith(b"\x80")  # a pickle begins with its protocol byte


def test_a_job_argument_json_cannot_carry_is_refused(app, make_app):
    with pytest.raises(TypeError, match="JSON"):
        jobs().enqueue("tests.jobfixtures.remember", "key", object())
    inline = make_app(REDIS_URL="")
    with inline.app_context(), pytest.raises(TypeError, match="JSON"):
        jobs().enqueue("tests.jobfixtures.remember", "key", {1, 2})
