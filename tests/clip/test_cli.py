"""`harness clip make|inspect|plot` from the command line."""

from harness.commands.main import main


def test_make_inspect_plot(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "synth:\n  preset: derkachi-10s\n  seed: 3\n  overrides: {corpus: false, frame_px: 64}\n"
    )
    assert (
        main(
            [
                "clip",
                "make",
                str(spec),
                "--cache-dir",
                str(tmp_path / "c"),
                "-o",
                str(tmp_path / "b"),
            ]
        )
        == 0
    )
    assert main(["clip", "inspect", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "stream    imu" in out and " Hz " in out and "world_frame=NED" in out
    assert main(["clip", "plot", str(tmp_path / "b"), "-o", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").stat().st_size > 10_000
    assert (
        main(
            [
                "clip",
                "make",
                str(spec),
                "--cache-dir",
                str(tmp_path / "c"),
                "-o",
                str(tmp_path / "b.tar"),
            ]
        )
        == 0
    )
    assert (
        main(["clip", "inspect", str(tmp_path / "b.tar"), "--cache-dir", str(tmp_path / "c")]) == 0
    )


def test_bad_spec_is_one_line_naming_the_file(tmp_path, capsys):
    spec = tmp_path / "bad.yaml"
    spec.write_text("synth: {preset: derkachi-61s}\n")
    assert main(["clip", "make", str(spec), "--cache-dir", str(tmp_path / "c")]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml: preset:" in err and "did you mean 'derkachi-60s'" in err
