"""Emergency numbers: labelled, never before the MRRC's, and not where they do harm."""

from hotline.flows import Engine

LABEL = {"en": ("Police", "police"), "ar": ("الشرطة",)}


def test_the_police_number_is_labelled_and_comes_after_the_mrrc(engine: Engine):
    catalog = engine.catalog
    used = 0
    for lang in catalog.languages:
        for key in catalog.keys(lang):
            text = " ".join(catalog.text(lang, key).split())
            if "{police_number}" not in text:
                continue
            used += 1
            before = text[:text.index("{police_number}")]
            # the label just before the number ("Police: 999", "Police in Sudan: 999")
            assert any(label in before[-20:] for label in LABEL[lang]), (lang, key, text)
            if "{centre_hotline}" in text:
                assert text.index("{centre_hotline}") < text.index("{police_number}"), \
                    (lang, key, text)
    assert used >= 6
    assert "emergency" not in engine.values  # the unlabelled key is gone


def test_the_medical_screen_does_not_offer_the_police_as_an_ambulance(engine: Engine):
    police = engine.values["police_number"]
    for lang in engine.catalog.languages:
        shown = "\n".join(engine.pages("services.medical", lang))
        assert police not in shown, (lang, shown)
