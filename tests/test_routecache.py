"""The tests' shared URL builders (``tests/routecache.py``) build every route's URL
exactly as werkzeug's own builders do, in every app."""

from werkzeug.routing import AnyConverter, IntegerConverter, PathConverter, Rule

from hotline import create_app
from tests.conftest import overrides


def test_every_route_builds_the_same_url_as_werkzeugs_own_builder(app):
    cached = Rule._compile_builder
    assert getattr(cached, "cached", False), "the tests' route cache is not installed"
    other = create_app(overrides())

    def sample(converter: object) -> object:
        if isinstance(converter, IntegerConverter):
            return 7
        if isinstance(converter, AnyConverter):
            return sorted(converter.items)[0]
        return "x/y z" if isinstance(converter, PathConverter) else "a b ç"

    for mine, theirs in zip(app.url_map.iter_rules(), other.url_map.iter_rules(), strict=True):
        assert mine.rule == theirs.rule
        values = {name: sample(conv) for name, conv in mine._converters.items()}
        own = cached.__wrapped__(mine, True).__get__(mine, None)
        for rule in (mine, theirs):
            assert rule._build_unknown(**values, q="1 2") == own(**values, q="1 2")
            assert rule._build(**values) == cached.__wrapped__(rule, False).__get__(rule)(
                **values)
