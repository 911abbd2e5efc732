"""What an app runs by name (flow actions, sweeps, the development login) is registered
by the app factory, not filled in by whichever module happened to be imported first.
"""

from __future__ import annotations

from flask import Flask

from hotline import actions, sweeper
from hotline.app import register_by_name
from hotline.staff import users


def test_importing_the_modules_registers_nothing():
    bare = Flask("bare")  # every module above is imported, and nothing was registered
    with bare.app_context():
        assert sweeper.sweep() == ["nothing to sweep"]
        assert sweeper.development_logins() == []
    assert not {"hotline.actions", "hotline.sweeps", "hotline.dev_logins"} & set(bare.extensions)
    assert not any(isinstance(value, list | dict) and value for name, value in
                   vars(sweeper).items() if name.isupper())  # no module-level registry left


def test_the_factory_registers_every_action_sweep_and_login(make_app):
    app = make_app()
    table = app.extensions["hotline.actions"]
    assert {"callback.submit", "callback.mine", "contact.exit", "sms.copy",
            "leader.send"} <= set(table.actions)
    assert table.provides["callback.submit"] == ("ref", "until")
    assert app.extensions["hotline.sweeps"] == sweeper.STANDARD_SWEEPS
    assert [job.__name__ for job in sweeper.STANDARD_SWEEPS] == [
        "_expire_callback_claims", "_finish_broadcasts", "_sweep_outbox", "_alert_oncall",
        "_store_spooled_missed_calls", "_purge_once_a_day", "_count_statistics"]
    assert app.extensions["hotline.dev_logins"] == (users.development_login,)


def test_registering_on_a_bare_app_is_explicit_and_apps_do_not_share_tables():
    first, second = Flask("first"), Flask("second")
    register_by_name(first)
    register_by_name(second)
    assert set(first.extensions["hotline.actions"].actions) \
        == set(actions.declared_actions().actions)
    assert first.extensions["hotline.actions"].actions \
        is not second.extensions["hotline.actions"].actions
    with first.app_context():
        assert len(sweeper.STANDARD_SWEEPS) == 7
        first.extensions["hotline.sweeps"] = (lambda: "only this",)
        assert sweeper.sweep() == ["only this"]
    with second.app_context():  # the other app's sweeps are its own
        assert second.extensions["hotline.sweeps"] == sweeper.STANDARD_SWEEPS
