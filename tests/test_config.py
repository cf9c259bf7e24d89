"""docs/configuration.md lists every configuration key and stays in sync with the dataclasses."""
import dataclasses
import os

from tf_featuretest import config

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "configuration.md")


def test_configuration_doc_is_generated_from_the_dataclasses():
    with open(DOC, encoding="utf-8") as fh:
        assert fh.read() == config.markdown(), "regenerate: python -m tf_featuretest.config > docs/configuration.md"


def test_every_key_has_a_row_with_its_default():
    text = config.markdown()
    for cls in (config.PipelineConfig, *config.SECTIONS.values(), config.ClassifierConfig):
        for f in dataclasses.fields(cls):
            if "doc" in f.metadata:
                assert f"| `{f.name}` |" in text, f"{cls.__name__}.{f.name} missing"
                assert f.metadata["doc"] in text
