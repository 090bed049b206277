"""The paper's colour rows in one command (els.studies.colour), end to end at the smoke preset on
synthetic CIFAR10 batches in the dataset's own file format: only the download is untested."""
from els import data
from els.cli import main
from test_data import write_cifar_folder


def test_cifar10_command_trains_both_networks_and_reproduces_their_rows(tmp_path, monkeypatch, capsys):
    """Fails if a network is not trained class-conditionally on the batches given, if a row is
    not reproduced for each, or if the table does not set the paper's CIFAR10 values beside
    ours; a second run resumes (training and results) instead of starting again."""
    import json

    monkeypatch.setenv("ELS_OFFLINE", "1")
    monkeypatch.setenv("ELS_DATA", str(tmp_path / "cache"))  # restored afterwards: the command points it at --root
    monkeypatch.setattr(data, "_announced", set())
    batches = tmp_path / "cifar-10-batches-py"
    write_cifar_folder(batches, per_batch=24)
    argv = ["cifar10", "--preset", "smoke", "--root", str(batches), "--models-dir", str(tmp_path / "models"),
            "--out", str(tmp_path / "results"), "--no-progress"]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "| CIFAR10 ResNet | " in table and "(0.95)" in table  # the paper's ELS r for the ResNet
    assert "| CIFAR10 UNet | " in table and "(0.90)" in table
    for arch in ("resnet", "unet"):
        manifest = json.loads((tmp_path / "models" / f"cifar10_{arch}_zeros" / "manifest.json").read_text())
        assert manifest["dataset"]["name"] == "cifar10" and manifest["dataset"]["conditional"]
        summary = json.loads((tmp_path / "results" / f"cifar10_{arch}_zeros" / "summary.json").read_text())
        assert summary["images"] == 120 and set(summary["agreement"]["20"]) >= {"IS", "LS", "ELS"}
    assert main(argv) == 1  # results exist: refused without --resume
    assert main(argv + ["--resume"]) == 0
    assert "resuming" in capsys.readouterr().out
