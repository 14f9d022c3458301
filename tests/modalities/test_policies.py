"""RandAugment, TrivialAugmentWide, AutoAugment, AugMix: tables, identities, records, annotations, workers."""

import json
import math
import random

import albumentations as A
import cv2
import numpy as np
import pytest

from augcli.modalities import image, policies
from tests.conftest import invoke, make_image_folder, write_config

NEAREST = {"interpolation": cv2.INTER_NEAREST, "fill": 0, "border_mode": cv2.BORDER_CONSTANT, "p": 1.0}
NEUTRAL = {"brightness": (1, 1), "contrast": (1, 1), "saturation": (1, 1), "hue": (0, 0), "p": 1.0}


def shear(axis, m):
    d = math.degrees(math.atan(m))
    return A.Affine(shear={"x": (d, d) if axis == "x" else (0, 0), "y": (d, d) if axis == "y" else (0, 0)}, **NEAREST)


# RandAugment(magnitude=9, num_magnitude_bins=31): torchvision's value of each op, and the
# albumentations transform that must give the same pixels, written out by hand.
RANDAUGMENT_AT_9 = {
    "Identity": (None, lambda m: A.NoOp(p=1)),
    "ShearX": (0.09, lambda m: shear("x", m)),
    "ShearY": (0.09, lambda m: shear("y", m)),
    "TranslateX": (150 / 331 * 9 / 30, lambda m: A.Affine(translate_percent={"x": (m, m), "y": (0, 0)}, **NEAREST)),
    "TranslateY": (150 / 331 * 9 / 30, lambda m: A.Affine(translate_percent={"x": (0, 0), "y": (m, m)}, **NEAREST)),
    "Rotate": (9.0, lambda m: A.Affine(rotate=(m, m), **NEAREST)),
    "Brightness": (0.27, lambda m: A.ColorJitter(**{**NEUTRAL, "brightness": (1 + m, 1 + m)})),
    "Color": (0.27, lambda m: A.ColorJitter(**{**NEUTRAL, "saturation": (1 + m, 1 + m)})),
    "Contrast": (0.27, lambda m: A.ColorJitter(**{**NEUTRAL, "contrast": (1 + m, 1 + m)})),
    "Sharpness": (0.27, lambda m: A.Sharpen(alpha=(m / 13, m / 13), lightness=(1, 1), method="kernel", p=1)
                  if m > 0 else A.GaussianBlur(blur_limit=(3, 3), sigma_limit=(policies._blur_sigma(-m),) * 2, p=1)),
    "Posterize": (7, lambda m: A.Posterize(num_bits=m, p=1)),  # round(8 - 9 / 7.5)
    "Solarize": (0.7, lambda m: A.Solarize(threshold_range=(m, m), p=1)),
    "AutoContrast": (None, lambda m: A.AutoContrast(method="pil", p=1)),
    "Equalize": (None, lambda m: A.Equalize(mode="pil", p=1)),
}
GEOMETRIC = {"Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate"}


@pytest.fixture
def rgb(photos) -> np.ndarray:
    return cv2.cvtColor(photos[0], cv2.COLOR_BGR2RGB)


def apply(step, img, seed, **extra):
    pipeline = image.pipeline_for([step])  # built once per step, as in a worker
    pipeline.set_random_state(np.random.default_rng(seed), random.Random(seed))
    result = pipeline(image=img, **extra)
    assert len(result["applied_transforms"]) == 1
    return result, result["applied_transforms"][0][1]


def test_each_randaugment_op_has_its_table_value_and_the_albumentations_pixels(rgb):
    seen = set()
    for seed in range(80):
        result, record = apply({"RandAugment": {"num_ops": 1, "magnitude": 9}}, rgb, seed)
        (done,) = record["ops"]
        value, direct = RANDAUGMENT_AT_9[done["op"]]
        m = done["magnitude"]
        assert (m is None) if value is None else abs(m) == pytest.approx(value), done["op"]
        np.testing.assert_array_equal(result["image"], direct(m)(image=rgb)["image"], err_msg=done["op"])
        seen.add((done["op"], m is not None and m < 0))
    assert {op for op, _ in seen} == set(RANDAUGMENT_AT_9)  # every op was drawn
    assert ("Rotate", True) in seen and ("Rotate", False) in seen  # both signs


def test_sharpness_above_one_is_pils_kernel_inside_the_image(rgb):
    m = 0.9
    out = policies.albumentations_op("Sharpness", m)(image=rgb)["image"].astype(float)
    smooth = cv2.filter2D(rgb.astype(np.float32), -1, np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], np.float32) / 13)
    pil = np.clip(np.rint(rgb + m * (rgb - smooth)), 0, 255)  # ImageEnhance.Sharpness(1 + m)
    assert np.abs(out - pil)[1:-1, 1:-1].max() <= 1


@pytest.mark.parametrize("op", sorted(policies.ZERO_IS_IDENTITY | {"Identity"}))
def test_magnitude_zero_is_the_identity(rgb, op):
    t = policies.albumentations_op(op, 0.0)
    assert isinstance(t, A.NoOp)
    np.testing.assert_array_equal(t(image=rgb)["image"], rgb)


def test_randaugment_at_magnitude_zero_changes_nothing_with_identity_like_ops(rgb):
    identity_like = policies.ZERO_IS_IDENTITY | {"Identity", "Posterize"}  # posterize at bin 0 keeps 8 bits
    checked = 0
    for seed in range(40):
        result, record = apply({"RandAugment": {"num_ops": 2, "magnitude": 0}}, rgb, seed)
        if all(o["op"] in identity_like for o in record["ops"]):
            np.testing.assert_array_equal(result["image"], rgb)
            checked += 1
    assert checked >= 10


@pytest.mark.parametrize("num_ops", [0, 1, 3])
def test_randaugment_applies_num_ops_ops(rgb, num_ops):
    for seed in range(5):
        _, record = apply({"RandAugment": {"num_ops": num_ops}}, rgb, seed)
        assert len(record["ops"]) == num_ops


def test_trivialaugment_one_op_from_the_wide_table(rgb):
    for seed in range(30):
        result, record = apply({"TrivialAugmentWide": {}}, rgb, seed)
        (done,) = record["ops"]
        values, _ = policies.TRIVIALAUGMENT_SPACE[done["op"]]
        if values is not None:
            assert abs(done["magnitude"]) in [v.item() for v in values(31)]
        if done["op"] in ("TranslateX", "TranslateY") and done["magnitude"]:
            axis = "x" if done["op"] == "TranslateX" else "y"
            px = int(done["magnitude"])  # pixels, truncated as torchvision does
            direct = A.Affine(translate_px={axis: (px, px), "xy".replace(axis, ""): (0, 0)}, **NEAREST)
            np.testing.assert_array_equal(result["image"], direct(image=rgb)["image"])


def test_autoaugment_applies_ops_of_the_chosen_subpolicy(rgb):
    for policy in ("imagenet", "cifar10", "svhn"):
        for seed in range(10):
            _, record = apply({"AutoAugment": {"policy": policy}}, rgb, seed)
            sub = policies.AUTOAUGMENT_POLICIES[policy][record["subpolicy"]]
            assert [o["op"] for o in record["ops"]] in [[], [sub[0][0]], [sub[1][0]], [sub[0][0], sub[1][0]]]
            for done in record["ops"]:
                index = next(i for op, _, i in sub if op == done["op"])
                values, _ = policies.AUTOAUGMENT_SPACE[done["op"]]
                if values is not None:
                    assert abs(done["magnitude"]) == pytest.approx(values(10)[index])


def test_augmix_is_the_recorded_mixture_of_its_recorded_chains(rgb):
    for seed in range(4):
        result, record = apply({"AugMix": {"severity": 3, "mixture_width": 3}}, rgb, seed)
        mixed = record["original_weight"] * rgb.astype(np.float64)
        for weight, chain in zip(record["chain_weights"], record["chains"], strict=True):
            assert 1 <= len(chain) <= 3
            out = rgb
            for done in chain:
                out = policies.albumentations_op(done["op"], done["magnitude"], interpolation=cv2.INTER_LINEAR)(
                    image=out)["image"]
            mixed += weight * out
        assert record["original_weight"] + sum(record["chain_weights"]) == pytest.approx(1)
        np.testing.assert_array_equal(result["image"], np.clip(np.rint(mixed), 0, 255).astype(np.uint8))


def test_geometric_ops_move_the_mask_with_the_image(rgb):
    mask = rgb[:, :, 0].copy()
    moved = 0
    for seed in range(40):
        pipeline = image.pipeline_for([{"RandAugment": {"num_ops": 2, "magnitude": 15}}])
        pipeline.set_random_state(np.random.default_rng(seed), random.Random(seed))
        result = pipeline(image=rgb, mask=mask)
        ops = {o["op"] for o in result["applied_transforms"][0][1]["ops"]}
        if ops <= GEOMETRIC:
            np.testing.assert_array_equal(result["mask"], result["image"][:, :, 0])
            moved += ops != {"Identity"}
        elif not ops & GEOMETRIC:
            np.testing.assert_array_equal(result["mask"], mask)  # colour ops leave it
    assert moved >= 3
    children = image.build_pipeline([{"RandAugment": {}}]).transforms[0].transforms
    assert all(isinstance(t, A.DualTransform) for t in children if type(t).__name__ in ("Affine", "NoOp"))


def test_augmix_refuses_boxes(rgb):
    pipeline = A.Compose([policies.AugMix()], bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"]))
    with pytest.raises(ValueError, match="AugMix mixes"):
        pipeline(image=rgb, bboxes=[[10, 10, 50, 50]], labels=[1])


def test_parameters_are_validated_with_paths_and_suggestions():
    problems = image.check_pipeline([
        {"RandAugment": {"magnitude": 31}},
        {"RandAugment": {"num_op": 2}},
        {"AutoAugment": {"policy": "cifar"}},
        {"AugMix": {"severity": 0}},
        "TrivialAugment",
    ], "image.pipeline")
    text = "\n".join(str(p) for p in problems)
    assert "image.pipeline[0].RandAugment.magnitude" in text and "below num_magnitude_bins (31)" in text
    assert "image.pipeline[1].RandAugment.num_op" in text and "did you mean 'num_ops'" in text
    assert "image.pipeline[2].AutoAugment.policy" in text and "did you mean 'cifar10'" in text
    assert "image.pipeline[3].AugMix.severity" in text
    assert "did you mean 'TrivialAugmentWide'" in text


def test_listed_by_transforms_and_schema():
    listed = json.loads(invoke("transforms", "image", "--json").output)["image"]
    by_name = {t["name"]: t for t in listed}
    assert by_name["RandAugment"]["params"]["magnitude"] == {"default": 9}
    assert by_name["AutoAugment"]["params"]["policy"] == {"default": "imagenet"}
    assert {"TrivialAugmentWide", "AugMix"} <= set(by_name)
    schema = json.loads(invoke("schema").output)
    assert "AugMix" in json.dumps(schema["$defs"]["ImageSection"])


def test_every_policy_records_and_is_identical_across_worker_counts(tmp_path):
    make_image_folder(tmp_path / "data", {"train/cat": 3, "train/dog": 3})
    steps = [{"RandAugment": {"num_ops": 2, "magnitude": 12}}, {"TrivialAugmentWide": {}},
             {"AutoAugment": {"policy": "svhn"}}, {"AugMix": {"mixture_width": 2}}]
    manifests = []
    for workers, out in ((1, "out1"), (2, "out2")):
        cfg = write_config(tmp_path / f"{out}.yaml", output=out, copies=2, image={"pipeline": steps})
        assert invoke("run", cfg, "--workers", workers, "--quiet").exit_code == 0
        rows = [json.loads(line) for line in (tmp_path / out / "manifest.jsonl").read_text().splitlines()]
        manifests.append([(r["output"], r["sha256"], r["transforms"]) for r in rows if r["copy"] is not None])
    assert manifests[0] == manifests[1]
    for _, _, transforms in manifests[0]:
        assert [t["name"] for t in transforms] == ["RandAugment", "TrivialAugmentWide", "AutoAugment", "AugMix"]
        assert len(transforms[0]["params"]["ops"]) == 2
        assert len(transforms[1]["params"]["ops"]) == 1
    assert invoke("verify", tmp_path / "out2").exit_code == 0


def test_example_config_runs_on_sample_data(tmp_path):
    from tests.conftest import SAMPLE_DATA

    config = SAMPLE_DATA.parent / "configs" / "policies.yaml"
    result = invoke("run", config, "--output", tmp_path / "out", "--json", "--quiet")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "out/manifest.jsonl").read_text().splitlines()]
    used = {t["name"] for r in rows for t in r["transforms"]}
    assert {"RandAugment", "TrivialAugmentWide", "AutoAugment", "AugMix"} <= used


@pytest.mark.filterwarnings("ignore:Got processor for:UserWarning")  # the direct colour ops take no boxes
def test_boxes_and_keypoints_follow_the_geometric_ops(rgb):
    """What the annotation work will rely on: inside a Compose with bbox/keypoint params, a policy's
    Affine moves boxes and keypoints exactly as that Affine built directly does."""
    boxes, points = [[20.0, 30.0, 90.0, 100.0]], [(50.0, 60.0)]
    params = {"bbox_params": A.BboxParams(format="pascal_voc", label_fields=["labels"], clip=True),
              "keypoint_params": A.KeypointParams(format="xy", remove_invisible=False)}
    pipeline = A.Compose([policies.RandAugment(num_ops=1, magnitude=12)], save_applied_params=True, **params)
    moved = 0
    for seed in range(40):
        pipeline.set_random_state(np.random.default_rng(seed), random.Random(seed))
        result = pipeline(image=rgb, bboxes=boxes, labels=[1], keypoints=points)
        (done,) = result["applied_transforms"][0][1]["ops"]
        direct = A.Compose([policies.albumentations_op(done["op"], done["magnitude"])], **params)
        expected = direct(image=rgb, bboxes=boxes, labels=[1], keypoints=points)
        np.testing.assert_allclose(result["bboxes"], expected["bboxes"], atol=1e-4)
        np.testing.assert_allclose(result["keypoints"], expected["keypoints"], atol=1e-4)
        if done["op"] in GEOMETRIC - {"Identity"}:
            moved += not np.allclose(result["keypoints"], points)
        else:
            np.testing.assert_allclose(result["keypoints"], points)  # colour ops leave them
    assert moved >= 3
