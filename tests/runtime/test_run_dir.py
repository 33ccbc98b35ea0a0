"""The run directory every command shares: create, load, and what ``resume=`` may change (the config class's
``RESUME_OVERRIDABLE``), on a toy config and on the shared tiny ``phalanx train`` run."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import pytest
import yaml

from phalanx.cli import main
from phalanx.config import build
from phalanx.errors import PhalanxError
from phalanx.runtime import run_dir as rd


@dataclasses.dataclass(frozen=True)
class Settings:
    iterations: int = 3
    lr: float = 0.1


@dataclasses.dataclass(frozen=True)
class ToyConfig:
    RESUME_OVERRIDABLE: ClassVar[tuple[str, ...]] = ("settings.iterations", "resume", "run_dir", "backend")

    env: str = "toy"
    seed: int = 0
    run_dir: str | None = None
    resume: str | None = None
    backend: str = "local"
    settings: Settings = dataclasses.field(default_factory=Settings)


def toy_values(values: dict[str, Any]) -> ToyConfig:
    return build(ToyConfig, values)


TOY = rd.RunKind("phalanx toy", "runs/<env>-toy-<time>", ToyConfig, toy_values, lambda config: "toy")


@pytest.fixture
def toy_run(tmp_path):
    return rd.create(ToyConfig(run_dir=str(tmp_path / "run")), TOY)[0].path


def test_create_writes_the_config_and_refuses_a_used_directory(toy_run, tmp_path, monkeypatch):
    assert rd.load_config(toy_run, TOY) == ToyConfig(run_dir=str(toy_run))
    with pytest.raises(PhalanxError, match="already holds a run; continue it with resume="):
        rd.create(ToyConfig(run_dir=str(toy_run)), TOY)
    monkeypatch.chdir(tmp_path)
    paths, config = rd.create(ToyConfig(), TOY, label="fsp")
    assert paths.path.parent.name == "runs" and paths.path.name.startswith("toy-fsp-")
    assert config.run_dir == str(paths.path) and paths.config.is_file()


def test_resume_refuses_a_key_not_overridable_in_one_line(toy_run):
    for overrides, shown in [({"seed": 1}, "seed=0"), ({"settings": {"lr": 0.5}}, "settings.lr=0.1")]:
        with pytest.raises(PhalanxError) as err:
            rd.open_for_resume(toy_run, overrides, TOY)
        message = str(err.value)
        assert "\n" not in message and f"cannot change a resumed run's config (stored: {shown})" in message
        assert "only settings.iterations, backend may change" in message
    assert rd.load_config(toy_run, TOY).seed == 0  # nothing written


def test_resume_accepts_an_overridable_key_and_stores_it(toy_run):
    paths, config = rd.open_for_resume(toy_run, {"settings": {"iterations": 7}, "seed": 0, "backend": "ray"}, TOY)
    assert paths.path == toy_run and config.settings.iterations == 7 and config.resume is None
    stored = yaml.safe_load((toy_run / "config.yaml").read_text())
    assert stored["settings"]["iterations"] == 7  # the new target is kept for later resumes
    assert stored["backend"] == "local"  # where a run executes is never written back


def test_overridable_keys_come_from_the_config_class():
    from phalanx.runtime.league_run import KIND as LEAGUE
    from phalanx.runtime.population_run import KIND as POPULATION

    assert TOY.overridable == ToyConfig.RESUME_OVERRIDABLE
    assert rd.TRAIN.overridable == rd.TRAIN.config_cls.RESUME_OVERRIDABLE
    assert "population.iterations" in POPULATION.overridable and "ray" in LEAGUE.overridable


def test_load_config_errors_name_the_command(tmp_path, tiny_run):
    with pytest.raises(PhalanxError, match=r"no such directory; give the run directory phalanx toy printed, "
                                           r"e\.g\. runs/<env>-toy-<time>"):
        rd.load_config(tmp_path / "missing", TOY)
    with pytest.raises(PhalanxError, match=r"no config\.yaml there; is it a phalanx toy run directory\?"):
        rd.load_config(tmp_path, TOY)
    with pytest.raises(PhalanxError, match=r"is not a phalanx toy run's config \(it has algo"):
        rd.load_config(tiny_run[0], TOY)


def test_cli_resume_of_the_shared_run(tiny_run, capsys):
    run_dir, _ = tiny_run
    assert main(["train", f"resume={run_dir}", "backend=local", "seed=3"]) == 0  # allowed / unchanged keys
    assert "already complete" in capsys.readouterr().out
    assert main(["train", f"resume={run_dir}", "log_every=3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "(stored: log_every=2)" in err
    assert main(["psro", f"resume={run_dir}"]) == 2  # a train run is not a psro run
    assert "is not a phalanx psro/selfplay run's config" in capsys.readouterr().err
