"""The spool's local file, Redis being down too: nothing lost while writers and a drain race."""

import threading

from hotline.spool import Spool


def test_items_written_while_a_drain_runs_are_all_stored_once(tmp_path):
    spool = Spool("voice", None, tmp_path / "spool")
    stored: list[int] = []
    failing = {"on": True}

    def handle(item: dict) -> None:
        if failing["on"] and item["n"] % 7 == 0:
            raise RuntimeError("database still down")
        stored.append(item["n"])

    def writer(start: int) -> None:
        for n in range(start, start + 50):
            assert spool.put({"n": n}, f"call-{n}").startswith("file:")

    threads = [threading.Thread(target=writer, args=(k * 50,)) for k in range(4)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        spool.drain(handle)  # stops at each failure; what is left waits
    for thread in threads:
        thread.join()
    failing["on"] = False
    while spool.pending():
        spool.drain(handle)
    assert sorted(stored) == list(range(200))  # every item, each once
    assert spool.drain(handle) == (0, 0)
    spool.put({"n": 200}, "call-200")  # readable by this user only: numbers are inside
    assert (tmp_path / "spool" / "voice.jsonl").stat().st_mode & 0o077 == 0
    assert (tmp_path / "spool").stat().st_mode & 0o077 == 0
