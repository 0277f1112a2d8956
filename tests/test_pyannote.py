"""pyannote diarization through Pipeline.from_pretrained on a local folder with random checkpoints built here."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyannote.audio")

from models.data import Diarization  # noqa: E402
from models.diarize import Diarizer, load_diarizer  # noqa: E402
from models.diarize.pyannote_diarizer import PyannoteDiarizer, check, exclusive_turns  # noqa: E402
from polydub.errors import BackendUnavailableError, InputError  # noqa: E402
from tests.speech_material import TWO_SPEAKER_SCRIPT, conversation  # noqa: E402


def _save_checkpoint(model, specifications, folder):
    """A pyannote Model checkpoint as ``Model.from_pretrained(folder)`` reads it (pytorch_model.bin)."""
    import lightning
    import torch

    model.specifications = specifications
    model.setup()
    checkpoint = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams), "pytorch-lightning_version": lightning.__version__}
    model.on_save_checkpoint(checkpoint)  # adds pyannote.audio's versions, architecture and specifications
    folder.mkdir()
    torch.save(checkpoint, folder / "pytorch_model.bin")


@pytest.fixture(scope="module")
def pipeline_folder(tmp_path_factory):
    """A community-1-shaped pipeline: random PyanNet segmentation, random WeSpeaker ResNet34, random PLDA."""
    import torch
    import yaml
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.embedding import WeSpeakerResNet34
    from pyannote.audio.models.segmentation import PyanNet

    root = tmp_path_factory.mktemp("pyannote")
    torch.manual_seed(0)
    segmentation = PyanNet(lstm={"hidden_size": 16, "num_layers": 1}, linear={"hidden_size": 16, "num_layers": 1})
    _save_checkpoint(segmentation, Specifications(
        problem=Problem.MONO_LABEL_CLASSIFICATION, resolution=Resolution.FRAME, duration=5.0,
        classes=["speaker#1", "speaker#2", "speaker#3"], powerset_max_classes=2, permutation_invariant=True,
    ), root / "segmentation")
    embedding = WeSpeakerResNet34(num_mel_bins=40)
    _save_checkpoint(embedding, Specifications(problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK, duration=5.0), root / "embedding")
    dim, lda = embedding.dimension, 16
    rng = np.random.default_rng(0)
    (root / "plda").mkdir()
    np.savez(root / "plda" / "xvec_transform.npz", mean1=np.zeros(dim), mean2=np.zeros(lda), lda=rng.standard_normal((dim, lda)))
    np.savez(root / "plda" / "plda.npz", mu=np.zeros(lda), tr=np.eye(lda) + 0.01 * rng.standard_normal((lda, lda)), psi=np.linspace(2.0, 0.5, lda))
    config = {
        "pipeline": {"name": "pyannote.audio.pipelines.SpeakerDiarization", "params": {
            "segmentation": "$model/segmentation", "embedding": "$model/embedding", "plda": "$model/plda",
            "clustering": "VBxClustering", "segmentation_step": 0.5, "embedding_batch_size": 8, "segmentation_batch_size": 8,
        }},
        "params": {"clustering": {"threshold": 0.6, "Fa": 0.07, "Fb": 0.8}, "segmentation": {"min_duration_off": 0.0}},
    }
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    return root


def test_local_pipeline_loads_and_returns_exclusive_relabelled_turns(pipeline_folder, tmp_path):
    diarizer = load_diarizer("pyannote", model=str(pipeline_folder))
    assert isinstance(diarizer, Diarizer) and isinstance(diarizer, PyannoteDiarizer)
    assert diarizer.device == "cpu"
    assert diarizer.version.startswith("pyannote.audio4.") and f"/{pipeline_folder.name}@" in diarizer.version
    wav, _, _ = conversation(tmp_path, TWO_SPEAKER_SCRIPT[:2])
    result = diarizer.diarize(wav)
    assert isinstance(result, Diarization) and result.turns
    import soundfile as sf

    duration = sf.info(str(wav)).duration
    for before, after in zip(result.turns, result.turns[1:]):
        assert before.end <= after.start  # sorted, no overlap
    assert all(0 <= t.start < t.end <= duration + 1e-3 for t in result.turns)
    first_seen = list(dict.fromkeys(t.speaker for t in result.turns))
    assert first_seen == [f"SPEAKER_{i:02d}" for i in range(len(first_seen))]
    with pytest.raises(InputError):
        diarizer.diarize(tmp_path / "absent.wav")
    one = PyannoteDiarizer(str(pipeline_folder), num_speakers=1)  # a known speaker count reaches the pipeline
    assert {t.speaker for t in one.diarize(wav).turns} == {"SPEAKER_00"}


def test_overlapping_turns_are_made_exclusive_clipped_and_merged():
    raw = [(0.5, 3.0, "B"), (2.0, 4.0, "A"), (4.0, 5.0, "A"), (-0.2, 0.4, "C"), (4.5, 9.0, "B")]
    turns = exclusive_turns(raw, duration=8.0)
    assert [(t.speaker, t.start, t.end) for t in turns] == [
        ("SPEAKER_00", 0.0, 0.4),  # C, clipped at 0
        ("SPEAKER_01", 0.5, 3.0),  # B keeps the overlap it started
        ("SPEAKER_02", 3.0, 5.0),  # A from where B ended, its two touching turns merged
        ("SPEAKER_01", 5.0, 8.0),  # B again, clipped to the recording
    ]


def test_hub_pipeline_without_token_or_cache_says_how_to_get_it(monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(BackendUnavailableError) as info:
        PyannoteDiarizer("pyannote/speaker-diarization-3.1")
    message = str(info.value)
    assert "https://huggingface.co/pyannote/speaker-diarization-3.1" in message
    assert "https://huggingface.co/pyannote/segmentation-3.0" in message  # its gated dependency too
    assert "HF_TOKEN" in message


def test_a_folder_without_config_is_refused(tmp_path):
    with pytest.raises(BackendUnavailableError, match="no pyannote config.yaml"):
        PyannoteDiarizer(str(tmp_path))


def test_check_lists_token_gated_weights_and_licence(monkeypatch, pipeline_folder):
    monkeypatch.setenv("HF_TOKEN", "hf_dummy")
    items = {c.item: c for c in check()}
    assert items["package pyannote.audio"].ok
    assert items["Hugging Face token"].ok
    weights = items["weights pyannote/speaker-diarization-community-1"]
    assert not weights.ok and "accept the terms" in weights.fix
    assert any(i.startswith("licence pyannote/speaker-diarization-community-1") for i in items)
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    items = {c.item: c for c in check("pyannote/speaker-diarization-3.1")}
    assert not items["Hugging Face token"].ok and "HF_TOKEN" in items["Hugging Face token"].fix
    assert "weights pyannote/wespeaker-voxceleb-resnet34-LM" in items
    assert all(c.ok for c in check(str(pipeline_folder)))
