"""``hotline check`` renders every screen a caller can reach: hint screens, error
screens, end screens, in every language, with the configured values."""

from pathlib import Path

from hotline.app import check_specs
from hotline.config import load_settings


def problems(root: Path, **centre: str) -> list[str]:
    settings = load_settings({"ROOT": str(root), "CENTRE": centre} if centre else
                             {"ROOT": str(root)})
    return check_specs(settings).problems


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_the_real_content_passes(workcopy: Path):
    assert problems(workcopy) == []


def test_a_hint_that_can_never_be_shown_is_reported(workcopy: Path):
    replace(workcopy / "content" / "ar" / "nav.yaml", 'invalid: "اختيار غير صحيح."',
            'invalid: "' + " ".join(["اختيار غير صحيح"] * 4) + '"')
    found = problems(workcopy)
    assert any(p.startswith("content/ar/nav.yaml: nav.invalid: the hint and the navigation "
                            "lines do not fit") for p in found), found


def test_an_error_screen_too_long_in_both_languages_at_once_is_reported(workcopy: Path):
    # each language alone fits 70; together (a caller whose language we do not know) not
    replace(workcopy / "content" / "ar" / "error.yaml", 'unavailable: "عذرا، حاول مرة أخرى لاحقا."',
            'unavailable: "عذرا، لا يمكننا خدمة هذا الطلب الآن. حاول لاحقا."')
    found = problems(workcopy)
    assert any("error.unavailable: in every language at once" in p and "over 70" in p
               for p in found), found


def test_an_end_screen_longer_than_one_screen_is_reported(workcopy: Path):
    replace(workcopy / "content" / "en" / "menu.yaml", 'stopped: "Done."',
            'stopped: "' + "Done and dusted. " * 12 + 'Done."')
    found = problems(workcopy)
    assert any("flows/main.yaml: node stopped (en): an end screen must fit one screen" in p
               for p in found), found


def test_the_menu_label_hours_come_from_config(workcopy: Path):
    settings = load_settings({"ROOT": str(workcopy),
                              "CALLBACKS": {"windows": {"morning": "07:30-11:00",
                                                        "afternoon": "11:00-14:00",
                                                        "evening": "18:00-21:00"}}})
    from hotline.app import window_hours

    assert window_hours(settings) == {"morning": "7:30-11", "afternoon": "11-2",
                                      "evening": "6-9"}
    assert check_specs(settings).problems == []
