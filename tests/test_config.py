from pathlib import Path

import pytest

from augcli.errors import ConfigError
from augcli.modalities.registry import load_config
from tests.conftest import invoke, write_config

FLIP = [{"HorizontalFlip": {"p": 1.0}}]


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [str(p) for p in info.value.problems]


def test_relative_paths_resolve_against_the_config_file(tmp_path, dataset):
    (tmp_path / "conf").mkdir()
    cfg = write_config(tmp_path / "conf" / "c.yaml", input="../data", output="../out", image={"pipeline": FLIP})
    config = load_config(cfg)
    assert config.input == dataset.resolve()
    assert config.output == (tmp_path / "out").resolve()
    assert config.copies == 1 and config.keep_originals is True and config.workers == "auto"


def test_unknown_key_is_named_with_a_suggestion(tmp_path, dataset):
    cfg = write_config(tmp_path / "c.yaml", copeis=3, image={"pipeline": FLIP})
    (problem,) = problems_of(cfg)
    assert problem.startswith("copeis: unknown key 'copeis' (did you mean 'copies'?)")


def test_unknown_nested_key_names_its_yaml_path(tmp_path, dataset):
    cfg = write_config(tmp_path / "c.yaml", image={"pipline": FLIP})
    (problem,) = problems_of(cfg)
    assert problem.startswith("image.pipline: unknown key 'pipline' (did you mean 'pipeline'?)")


def test_misspelt_transform_gets_a_suggestion(tmp_path, dataset):
    cfg = write_config(tmp_path / "c.yaml", image={"pipeline": [{"HorizontalFlip": {}}, {"GausianBlur": {}}]})
    (problem,) = problems_of(cfg)
    expected = "image.pipeline[1]: unknown image transform 'GausianBlur' (did you mean 'GaussianBlur'?)"
    assert problem.startswith(expected)


def test_bad_parameter_shows_the_library_message_under_its_yaml_path(tmp_path, dataset):
    cfg = write_config(tmp_path / "c.yaml", image={"pipeline": [{"HorizontalFlip": {}}, {"Rotate": {"limit": "abc"}}]})
    (problem,) = problems_of(cfg)
    assert problem.startswith("image.pipeline[1].Rotate.limit: Input should be a valid")


def test_unknown_parameter_is_an_error_not_a_warning(tmp_path, dataset):
    cfg = write_config(tmp_path / "c.yaml", image={"pipeline": [{"Rotate": {"limti": 10}}]})
    (problem,) = problems_of(cfg)
    assert problem == "image.pipeline[0].Rotate.limti: Rotate has no parameter 'limti' (did you mean 'limit'?)"


def test_nested_composition_errors_carry_the_full_path(tmp_path, dataset):
    pipeline = [{"OneOf": {"p": 0.5, "transforms": [{"Blur": {}}, {"SomeOf": {"n": 1, "transforms": [{"Fip": {}}]}}]}}]
    cfg = write_config(tmp_path / "c.yaml", image={"pipeline": pipeline})
    (problem,) = problems_of(cfg)
    path = "image.pipeline[0].OneOf.transforms[1].SomeOf.transforms[0]"
    assert problem.startswith(f"{path}: unknown image transform 'Fip'")


def test_every_problem_is_reported_at_once(tmp_path, dataset):
    cfg = write_config(tmp_path / "c.yaml", output="data/out", workers=0,
                       image={"pipeline": [{"Rotat": {}}, {"Rotate": {"limit": "x"}}]})
    paths = [p.split(": ")[0] for p in problems_of(cfg)]
    assert paths == ["workers", "output", "image.pipeline[0]", "image.pipeline[1].Rotate.limit"]


@pytest.mark.parametrize("output", ["data", "data/sub", "."])
def test_output_inside_or_around_input_is_refused(tmp_path, dataset, output):
    cfg = write_config(tmp_path / "c.yaml", output=output, image={"pipeline": FLIP})
    (problem,) = problems_of(cfg)
    assert problem.startswith("output: ")
    assert "choose a folder outside it" in problem


def test_yaml_syntax_error_names_the_line(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("input: data\nimage: {pipeline: [\n")
    (problem,) = problems_of(cfg)
    assert problem.startswith("YAML syntax error at line 3")


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"copies": 0}, "copies: Input should be greater than or equal to 1"),
        ({"workers": "many"}, "workers: must be 'auto' or a whole number >= 1, not 'many'"),
        ({"on_error": "ignore"}, "on_error: Input should be 'skip' or 'fail'"),
        ({"image": {"pipeline": FLIP, "quality": 101}}, "image.quality: Input should be less than or equal to 100"),
        ({"image": {"pipeline": [["HorizontalFlip"]]}}, "image.pipeline[0]: a step is one transform name"),
        ({"image": {"pipeline": [{"OneOf": {"p": 1}}]}}, "image.pipeline[0].OneOf: OneOf needs 'transforms: [...]'"),
    ],
)
def test_value_errors_name_their_path(tmp_path, dataset, keys, expected):
    keys.setdefault("image", {"pipeline": FLIP})
    cfg = write_config(tmp_path / "c.yaml", **keys)
    assert any(p.startswith(expected) for p in problems_of(cfg)), problems_of(cfg)


def test_cli_config_error_exits_2_without_traceback_and_writes_nothing(tmp_path, dataset):
    cfg = write_config(tmp_path / "c.yaml", copeis=3, image={"pipeline": [{"GausianBlur": {}}]})
    result = invoke("run", cfg)
    assert result.exit_code == 2
    assert "copeis: unknown key 'copeis' (did you mean 'copies'?)" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_missing_config_file_exits_2(tmp_path):
    result = invoke("run", tmp_path / "nope.yaml")
    assert result.exit_code == 2
    assert "nope.yaml does not exist" in result.output


@pytest.mark.parametrize("name", ["Normalize", "ToFloat"])
def test_steps_that_make_a_models_input_are_refused_saying_why(tmp_path, dataset, name):
    """Normalize wrote JPEGs of values 0-2 (black), exit 0, and verify passed them."""
    cfg = write_config(tmp_path / "c.yaml", image={"pipeline": [{"HorizontalFlip": {}}, {name: {}}]})
    result = invoke("validate", cfg)
    assert result.exit_code == 2
    assert (f"image.pipeline[1]: augcli cannot run {name}: it makes a model's input (floats around 0), which "
            "an image file cannot hold: the written image comes out black; do it in your training pipeline"
            ) in result.output
    assert name not in invoke("transforms", "image").output.split()
