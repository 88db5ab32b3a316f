"""`tanas init DIR`: the packaged stage configs and NNI experiments, written into a user's folder."""
from __future__ import annotations


from tanas_nni.cli import main
from tanas_nni.core.resources import template_names


def test_init_writes_every_template_and_keeps_or_overwrites_on_request(tmp_path, capsys):
    work = tmp_path / "my-exp"
    assert main(["init", str(work)]) == 0
    names = template_names()
    assert {"configs/dictionary.yml", "configs/demo.yml", "experiments/dictionary.yml",
            "search_spaces/standard.yml"} <= set(names)
    assert all((work / n).is_file() for n in names)
    assert "next:  cd" in capsys.readouterr().out

    (work / "configs" / "demo.yml").write_text("target: quickdraw:fish-vs-rest\n")  # one's own edit
    (work / "configs" / "compare.yml").unlink()
    assert main(["init", str(work), "--keep"]) == 0
    assert (work / "configs" / "demo.yml").read_text() == "target: quickdraw:fish-vs-rest\n"  # kept
    assert (work / "configs" / "compare.yml").is_file()  # the missing one written
    assert main(["init", str(work), "--keep"]) == 0 and "there already" in capsys.readouterr().out
    assert main(["init", str(work), "--force"]) == 0
    assert (work / "configs" / "demo.yml").read_text().startswith("# `make demo`")


def test_init_refuses_to_overwrite_and_a_file_as_folder(tmp_path, capsys):
    work = tmp_path / "my-exp"
    assert main(["init", str(work)]) == 0
    (work / "configs" / "demo.yml").write_text("mine\n")
    capsys.readouterr()
    assert main(["init", str(work)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exists already" in err[0] and "--force" in err[0] and "--keep" in err[0]
    assert (work / "configs" / "demo.yml").read_text() == "mine\n"
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["init", str(afile)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a folder" in err[0] and afile.read_text() == "x"
