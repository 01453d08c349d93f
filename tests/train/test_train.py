"""NetVLAD training on the stand-in: alignment, cluster init, whitening, a tiny resumable run."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from harness.commands.main import build_parser
from harness.errors import HarnessError
from harness.reference.commands.train import load_weights
from harness.reference.models import evaluate, trained, trainjob
from harness.reference.models import train as T
from harness.reference.models.evaluate import Recall, format_table, int8_dynamic
from harness.reference.models.trainjob import CHECKPOINT_NAME, TrainJob, train_checkpoint
from harness.reference.vpr.align import align_north_up
from harness.reference.vpr.netvlad import (
    VGG16_CONV_INDICES,
    NetVladPool,
    NetVladVgg16,
    expected_layout,
    init_like_torchvision,
)
from harness.reference.vpr.preprocess import to_input
from harness.synth.camera import R_BODY_CAM, intrinsics, render_frames
from harness.synth.flight import euler_to_q_wxyz
from harness.synth.terrain import make_ortho
from harness.synth.tiles import local_grid


def test_north_up_alignment_turns_a_rotated_frame_into_its_tile() -> None:
    ortho = make_ortho(3, (-400.0, 400.0), (-400.0, 400.0), 1.0)
    pyramid = [ortho, ortho.halved()]
    cam = intrinsics(96, 96, 60.0)
    euler = np.array([[0.03, -0.02, np.radians(130.0)]])
    q = euler_to_q_wxyz(euler)
    frame = next(render_frames(pyramid, cam, np.array([[0.0, 0.0, -300.0]]), q))
    tile = local_grid(pyramid, np.zeros((2, 2)), 200.0, 100.0, 64).image(0)
    aligned = align_north_up(frame, cam, R_BODY_CAM, q[0], 300.0, 200.0, 64)
    err = np.abs(aligned.astype(float) - tile).mean()
    unaligned = np.abs(frame[16:80, 16:80].astype(float) - tile).mean()
    assert err < 6.0, f"aligned frame differs from its tile by {err:.1f} grey levels on average"
    assert unaligned > 2 * err


def test_kmeans_init_gives_the_papers_assignment_conv() -> None:
    x = torch.nn.functional.normalize(torch.randn(400, 16), dim=1)
    centroids = T.kmeans(x, 4, 5, seed=0)
    pool = NetVladPool(4, 16)
    alpha = T.init_pool_from_centroids(pool, centroids, x)
    w = pool.conv.weight[:, :, 0, 0]
    assert torch.allclose(w, 2 * alpha * centroids, rtol=1e-5)
    assert torch.allclose(pool.conv.bias, -alpha * (centroids**2).sum(1), rtol=1e-5)
    assert torch.equal(pool.centroids.data, centroids)


def test_pca_whitening_decorrelates_training_descriptors_up_to_their_rank() -> None:
    model = NetVladVgg16(width=1, clusters=2, descriptor_dim=12)  # 16-d VLAD -> 12
    vlad = torch.randn(10, 16) @ torch.randn(16, 16)
    rank = T.fit_pca_whitening(model, vlad, eps=0.0)
    assert rank == 9  # 10 centred samples span 9 directions
    with torch.no_grad():
        y = model.pca(vlad)[:, :rank].double()
    cov = y.T @ y / (len(y) - 1)
    assert torch.allclose(cov, torch.eye(rank, dtype=torch.float64), atol=1e-3)
    assert torch.count_nonzero(model.pca.weight[rank:]) == 0


def test_tiny_training_run_writes_a_strict_checkpoint_and_resumes(tmp_path) -> None:
    job = TrainJob(
        width=2,
        clusters=4,
        descriptor_dim=32,
        input_px=48,
        area_seeds=(11,),
        queries_per_area=12,
        area_size_m=500.0,
        validation_queries=6,
        train=replace(T.TrainConfig(), epochs=1, kmeans_samples=500, negatives=3, batch=4),
    )
    first = train_checkpoint(job, tmp_path, tmp_path / "cache")
    assert len(first.history.loss) == 1
    model = load_weights(first.checkpoint)
    state = model.state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == expected_layout(2, 4, 32)
    page = first.checkpoint.with_suffix(".provenance.md").read_text()
    assert first.sha256 in page and "random init" in page and "area seed 11" in page
    assert "picked on area seed 103" in page and len(first.history.validation) == 1
    again = train_checkpoint(job, tmp_path, tmp_path / "cache")  # resumes: nothing left to do
    assert again.history.loss == first.history.loss
    out = model(torch.rand(1, 3, 48, 48))["vlad_descriptor"]
    assert out.shape == (1, 32) and torch.isfinite(out).all()
    small = int8_dynamic(model)(torch.rand(1, 3, 48, 48))["vlad_descriptor"]
    assert small.shape == (1, 32) and torch.isfinite(small).all()


def test_resume_continues_from_the_saved_epoch(tmp_path, caplog) -> None:
    x = torch.randn(20, 8, 3, 3)
    t = torch.randn(30, 8, 3, 3)
    truth = np.random.default_rng(0).uniform(0, 500, (20, 2))
    centres = np.random.default_rng(1).uniform(0, 500, (30, 2))
    cfg = replace(T.TrainConfig(), epochs=2, negatives=3, pos_radius_m=150, neg_radius_m=150)
    saved = {}
    pool = NetVladPool(2, 8)
    T.train_pool(pool, x, t, truth, centres, cfg, on_epoch=lambda e, h, o: saved.update(h=h, o=o))
    longer = replace(cfg, epochs=3)
    hist = T.train_pool(pool, x, t, truth, centres, longer, saved["h"], saved["o"])
    assert len(hist.loss) == 3 and all(np.isfinite(hist.loss))


def test_training_stops_when_validation_stalls() -> None:
    """Patience 2: best at epoch 1, epochs 2 and 3 no better -> stop after 3 of at most 12."""
    assert not T.stalled(1, best_epoch=1, patience=2)
    assert not T.stalled(2, best_epoch=1, patience=2)
    assert T.stalled(3, best_epoch=1, patience=2)
    assert T.stalled(2, best_epoch=0, patience=2)  # the k-means init was never beaten
    assert not T.stalled(12, best_epoch=0, patience=0)  # 0: run every epoch
    x, t = torch.randn(20, 8, 3, 3), torch.randn(30, 8, 3, 3)
    truth = np.random.default_rng(0).uniform(0, 500, (20, 2))
    centres = np.random.default_rng(1).uniform(0, 500, (30, 2))
    cfg = replace(T.TrainConfig(), epochs=12, negatives=3, pos_radius_m=150, neg_radius_m=150)
    scores = iter([1.0, 1.5, 1.5, 1.4, 2.0])  # a later improvement is never reached

    def on_epoch(epoch: int, hist: T.History, opt: dict) -> bool:
        hist.validation.append(next(scores))
        best = int(np.argmax(hist.validation)) + 1
        return T.stalled(epoch + 1, best, cfg.patience)

    hist = T.train_pool(NetVladPool(2, 8), x, t, truth, centres, cfg, on_epoch=on_epoch)
    assert len(hist.loss) == 4 and hist.validation == [1.0, 1.5, 1.5, 1.4]


def test_load_weights_names_the_file_and_the_fix(tmp_path) -> None:
    bad = tmp_path / "bad.pt"
    torch.save({"encoder.0.weight": torch.zeros(1)}, bad)
    with pytest.raises(HarnessError, match=r"bad\.pt.*harness provision train"):
        load_weights(bad)


def test_results_table_has_the_seeds_columns() -> None:
    rows = [Recall("trained", "flight", "footprint", 60, {1: 0.8, 5: 0.95, 10: 1.0, 20: 1.0})]
    table = format_table(rows)
    assert "| R@1 | R@5 | R@10 | R@20 |" in table
    assert "| trained | footprint | 60 | 0.80 | 0.95 | 1.00 | 1.00 |" in table


def test_cli_has_provision_train_and_test() -> None:
    args = build_parser().parse_args(["provision", "train", "--epochs", "2"])
    assert args.epochs == 2 and args.func.__name__ == "run_train"
    args = build_parser().parse_args(["provision", "test", "--seed", "9"])
    assert args.seed == 9 and args.func.__name__ == "run_test"


def test_provision_test_gap_is_checked_before_any_work() -> None:
    from harness.reference.commands.train import _gap

    assert _gap(None) is None and _gap("default") == {}
    assert _gap("{jpeg_quality: 30, tilt_deg: 5}") == {"jpeg_quality": 30, "tilt_deg": 5}
    with pytest.raises(HarnessError, match=r"--gap .*jpeg_quality: Input should be less than"):
        _gap("{jpeg_quality: 300}")
    with pytest.raises(HarnessError, match=r"blur: Extra inputs are not permitted.*docs/clip.md"):
        _gap("{blur: 2}")


def test_identity_conv5_makes_the_encoder_output_conv4s_maps() -> None:
    torch.manual_seed(0)
    model = NetVladVgg16(width=2, clusters=4, descriptor_dim=16)
    init_like_torchvision(model)
    T.identity_conv5(model.encoder)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        conv4 = model.encoder[:24](x)  # conv4_3 -> ReLU -> pool4
        out = model.encoder(x)
    assert out.shape == conv4.shape == (2, 16, 4, 4)
    assert torch.equal(out, conv4)
    assert sorted(model.state_dict()) == sorted(expected_layout(2, 4, 16))


def test_default_trained_checkpoint_is_reused_by_key_and_retrained_on_change(
    tmp_path, monkeypatch
) -> None:
    calls = []

    def fake_train(job, out_dir, cache_dir):
        calls.append(job)
        (out_dir / CHECKPOINT_NAME).write_bytes(b"weights")

    monkeypatch.setattr(trainjob, "train_checkpoint", fake_train)
    small = TrainJob(queries_per_area=4)
    ckpt = trained.ensure_trained(tmp_path, tmp_path / "cache", small)
    assert ckpt == tmp_path / CHECKPOINT_NAME and len(calls) == 1
    assert trained.ensure_trained(tmp_path, tmp_path / "cache", small) == ckpt
    assert len(calls) == 1, "same settings and recipe: the checkpoint is reused"
    other = TrainJob(queries_per_area=5)
    assert trained.recipe_key(other) != trained.recipe_key(small)
    trained.ensure_trained(tmp_path, tmp_path / "cache", other)
    assert calls == [small, other], "other settings: trained afresh"


def test_checking_the_trained_key_imports_no_torch() -> None:
    """Every scenario session checks the key: it must not cost the host a torch import."""
    import subprocess
    import sys

    code = "import sys, harness.reference.models.trained; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_recipe_key_follows_the_recipes_source(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(trained, "RECIPE_SOURCES", ("train.py", "synth"))
    (tmp_path / "synth").mkdir()
    (tmp_path / "train.py").write_text("EPOCHS = 12\n")
    (tmp_path / "synth" / "terrain.py").write_text("SEED = 1\n")
    before = trained.recipe_key(TrainJob(), tmp_path)
    (tmp_path / "synth" / "terrain.py").write_text("SEED = 2\n")
    assert trained.recipe_key(TrainJob(), tmp_path) != before


def test_chance_recall_is_what_random_rankings_get() -> None:
    rng = np.random.default_rng(0)
    hit = rng.random((40, 30)) < 0.08
    hit[0] = False  # a query with no hit anywhere: recall 0 at every n
    hit[1] = True  # every tile a hit: recall 1
    for n in (1, 5, 20):
        order = np.argsort(rng.random((4000, *hit.shape)), axis=2)
        drawn = np.take_along_axis(np.broadcast_to(hit, order.shape), order, axis=2)
        monte_carlo = drawn[:, :, :n].any(axis=2).mean()
        assert abs(evaluate.chance_recall(hit, n) - monte_carlo) < 0.01
    one = np.array([[True, False, False, False]])
    assert [evaluate.chance_recall(one, n) for n in (1, 2, 4, 9)] == [0.25, 0.5, 1.0, 1.0]


def test_training_encodes_without_the_identity_conv5_in_channels_last() -> None:
    """What training caches (conv4 maps, channels-last copy) equals the whole encoder's output,
    and the caller's encoder keeps its bytes (the checkpoint's sha256 depends on them)."""
    from harness.reference.models.features import conv_features

    torch.manual_seed(0)
    model = NetVladVgg16(width=4, clusters=4, descriptor_dim=16)
    init_like_torchvision(model)
    T.identity_conv5(model.encoder)
    images = np.random.default_rng(0).integers(0, 255, (3, 48, 48, 3)).astype(np.uint8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fast = conv_features(model.encoder[: VGG16_CONV_INDICES[-3]], images, 64)
    with torch.no_grad():
        whole = model.encoder(to_input(images, 64))
    assert fast.shape == whole.shape and fast.is_contiguous()
    assert torch.allclose(fast, whole, rtol=1e-4, atol=1e-6)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(v.is_contiguous() for v in model.state_dict().values())


def test_bf16_training_maps_are_close_to_fp32_and_cached_apart(tmp_path) -> None:
    from harness.reference.models.features import cached_conv_features, conv_features

    torch.manual_seed(0)
    model = NetVladVgg16(width=4, clusters=4, descriptor_dim=16)
    init_like_torchvision(model)
    images = np.random.default_rng(1).integers(0, 255, (4, 64, 64, 3)).astype(np.uint8)
    fp32 = conv_features(model.encoder, images, 64)
    bf16 = conv_features(model.encoder, images, 64, precision="bf16")
    assert bf16.dtype == torch.float32 and not torch.equal(bf16, fp32)  # it did run in bf16
    assert float((bf16 - fp32).norm() / fp32.norm()) < 0.02
    cached = [
        cached_conv_features(model.encoder, images, 64, tmp_path, "e", p) for p in ("fp32", "bf16")
    ]
    assert len(list((tmp_path / "conv").glob("*.npy"))) == 2  # one entry per precision
    assert not torch.equal(cached[0], cached[1])
