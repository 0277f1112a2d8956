"""Provenance: AI-disclosure tags on every output, and a C2PA manifest signed with a test PKI.

The certificate authority and signing certificate are generated here with `cryptography`;
a tiny generated clip goes through the real delivery code (mux → sign → atomic copy),
and the C2PA reader checks what was signed, that the test root makes it trusted, and that
changing one byte of the picture is detected.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from models.data import Dub, MixResult, SourceAudio
from models.ingest import probe
from models.lipsync.records import FaceSync, LipSyncResult
from models.mux import mux_audio, mux_video
from models.provenance import (
    ALGORITHMIC, COMPOSITE_SYNTHETIC, COMPOSITE_TRAINED, TRAINED, Disclosure, SigningError, SigningSettings, StageModel,
    check_signing, disclosure_tags, read_manifest, read_tags, sign_media,
)
from polydub.config import C2PA_CERT_ENV, C2PA_KEY_ENV, C2PA_TSA_ENV, Backends, LocalizeParams, Profile
from polydub.preflight import preflight
from polydub.workdir import WorkDir, file_sha256
from tasks.deliver import deliver

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("provenance")
    video, mix, lips = tmp / "talk show.mp4", tmp / "mix.wav", tmp / "lips.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=96x64:rate=10:duration=1", "-f", "lavfi", "-i", "sine=frequency=300:duration=1",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(video))
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=600:sample_rate=48000:duration=1", "-ac", "2", str(mix))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=10:duration=1", "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", str(lips))  # stands for the re-drawn picture
    return {"video": video, "mix": mix, "lips": lips, "dir": tmp}


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "polydub tests")])


def _cert(subject, issuer, public_key, signing_key, ca: bool, eku=(ExtendedKeyUsageOID.EMAIL_PROTECTION,), days=30):
    now = dt.datetime.now(dt.timezone.utc)
    usage = dict(content_commitment=False, key_encipherment=False, data_encipherment=False, key_agreement=False,
                 encipher_only=False, decipher_only=False)
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=2)).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=not ca, key_cert_sign=ca, crl_sign=ca, **usage), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()), critical=False)
    )
    if not ca and eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def _pem(*certs) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict:
    """A test root CA and an ES256 end-entity signing certificate it issued (chain = leaf + root)."""
    tmp = tmp_path_factory.mktemp("pki")
    root_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root = _cert(_name("polydub test root"), _name("polydub test root"), root_key.public_key(), root_key, ca=True, days=60)
    leaf = _cert(_name("polydub test signer"), root.subject, key.public_key(), root_key, ca=False)
    files = {"chain": tmp / "chain.pem", "key": tmp / "key.pem", "root": tmp / "root.pem"}
    files["chain"].write_bytes(_pem(leaf, root))
    files["key"].write_bytes(_key_pem(key))
    files["root"].write_bytes(_pem(root))
    return {**files, "root_key": root_key, "root_cert": root, "leaf_key": key, "dir": tmp}


def _lite(lips: bool = True, **changes) -> Disclosure:
    return Disclosure(
        source_language="en", language="es", version="0.1.0", transcribe=StageModel(backend="faster-whisper", model="tiny.en"),
        translate=StageModel(backend="apertium"), synthesize=StageModel(backend="espeak"),
        lipsync=StageModel(backend="lite") if lips else None, faces_redrawn=2 if lips else 0, **changes,
    )


def _studio() -> Disclosure:
    return Disclosure(
        source_language="en", language="de", version="0.1.0", transcribe=StageModel(backend="faster-whisper", model="large-v3"),
        translate=StageModel(backend="seq2seq", model="facebook/m2m100_418M"),
        synthesize=StageModel(backend="xtts", model="tts_models/multilingual/multi-dataset/xtts_v2"), voice_cloned=True,
        lipsync=StageModel(backend="ltx", model="Lightricks/LTX-2"), faces_redrawn=1,
    )


def test_each_backend_is_declared_with_its_iptc_source_type():
    lite, studio = _lite(), _studio()
    assert (lite.source_type("synthesize"), lite.source_type("lipsync"), lite.digital_source_type) == (ALGORITHMIC, ALGORITHMIC, COMPOSITE_SYNTHETIC)
    assert (studio.source_type("synthesize"), studio.source_type("lipsync"), studio.digital_source_type) == (TRAINED, TRAINED, COMPOSITE_TRAINED)
    assert _lite(lines_voiced_by_lipsync=3).source_type("synthesize") == TRAINED  # LTX voiced those lines itself
    assert _lite(lips=False).parts == ["speech"] and studio.parts == ["speech", "lips"]


@pytest.mark.parametrize("lips", [True, False], ids=["lips", "speech-only"])
def test_disclosure_tags_land_in_the_mp4(media, tmp_path, lips):
    ai = _lite(lips)
    out = mux_video(media["video"], media["mix"], tmp_path / "out.mp4", "es", metadata=disclosure_tags(ai))
    tags = read_tags(out)
    assert tags["ai_generated"] == ("speech,lips" if lips else "speech")
    assert tags["digital_source_type"] == COMPOSITE_SYNTHETIC
    assert "AI-generated" in tags["comment"] and ("lip movements" in tags["comment"]) == lips
    assert "from en to es" in tags["description"] and "faster-whisper (tiny.en)" in tags["description"]
    assert ("re-drawn with lite" in tags["description"]) == lips


def test_audio_only_m4a_is_tagged_and_signed(media, pki, tmp_path):
    ai = _lite(lips=False)
    unsigned = mux_audio(media["mix"], tmp_path / "unsigned.m4a", "es", 1.0, metadata=disclosure_tags(ai))
    assert read_tags(unsigned)["ai_generated"] == "speech" and "lip" not in read_tags(unsigned)["comment"]
    out = sign_media(unsigned, tmp_path / "podcast.es.m4a", ai, media["mix"], SigningSettings(pki["chain"], pki["key"]))
    store = read_manifest(out, trust_anchors=pki["root"].read_text())
    manifest = store["manifests"][store["active_manifest"]]
    [actions] = [a["data"]["actions"] for a in manifest["assertions"] if a["label"].startswith("c2pa.actions")]
    assert store["validation_state"] == "Trusted" and manifest["title"] == "podcast.es.m4a"
    assert [(i["title"], i["format"]) for i in manifest["ingredients"]] == [("mix.wav", "audio/wav")]
    assert [a["action"] for a in actions] == ["c2pa.opened", "c2pa.translated", "c2pa.dubbed"]  # no picture, no lip edit
    assert actions[2]["digitalSourceType"] == ALGORITHMIC and read_tags(out)["ai_generated"] == "speech"


def _deliver(media: dict, tmp_path: Path, backends: Backends | None = None) -> tuple[Path, WorkDir]:
    """The real delivery task (its function, without a Prefect engine) on the tiny clip, lips re-drawn."""
    source = media["video"]
    sha = file_sha256(source)
    audio = SourceAudio(media=probe(source), sha256=sha, mix_48k=str(media["mix"]), mono_16k=str(media["mix"]))
    mixed = MixResult(audio=str(media["mix"]), speech_stem=str(media["mix"]), source_lufs=-23, output_lufs=-23, true_peak_dbtp=-1, duration=1.0)
    picture = LipSyncResult(backend=f"{(backends or Backends()).lipsync}:v1", status="on", video=str(media["lips"]),
                            faces=[FaceSync(identity="face-0", speaker="SPEAKER_00", lines=[0], frames_changed=8)])
    work = WorkDir(tmp_path / "work", sha)
    delivered = deliver.fn(work, audio, Dub(language="es", lines=[]), mixed, picture, str(tmp_path / "out"), False, backends, "en")
    return Path(delivered.video), work


def _signing_env(monkeypatch, pki: dict, chain: Path | None = None, key: Path | None = None) -> None:
    monkeypatch.setenv(C2PA_CERT_ENV, str(chain or pki["chain"]))
    monkeypatch.setenv(C2PA_KEY_ENV, str(key or pki["key"]))
    monkeypatch.delenv(C2PA_TSA_ENV, raising=False)


def test_without_a_key_outputs_are_tagged_and_not_signed(media, tmp_path, monkeypatch):
    monkeypatch.delenv(C2PA_CERT_ENV, raising=False)
    monkeypatch.delenv(C2PA_KEY_ENV, raising=False)
    video, _ = _deliver(media, tmp_path)
    assert video.name == "talk show.es.mp4"
    tags = read_tags(video)
    assert tags["ai_generated"] == "speech,lips"
    assert tags["digital_source_type"] == COMPOSITE_SYNTHETIC  # espeak and the landmark warp train on nothing
    assert "re-drawn with lite (v1)" in tags["description"]
    assert read_manifest(video) is None


@pytest.fixture(scope="module")
def signed(media, pki, tmp_path_factory) -> Path:
    """The studio-profile delivery of the clip, signed with the test certificate."""
    tmp = tmp_path_factory.mktemp("signed")
    with pytest.MonkeyPatch.context() as patch:
        _signing_env(patch, pki)
        video, work = _deliver(media, tmp, Backends.for_profile(Profile.studio))
    staged = [p.name for p in work.path.glob("deliver-*/*")]
    assert "unsigned.mp4" not in staged and "dub.es.mp4" in staged  # the unsigned mux never outlives the stage
    assert sorted(p.name for p in video.parent.iterdir()) == ["talk show.es.mp4", "talk show.es.srt", "talk show.es.vtt"]
    return video


def test_signed_output_names_the_ai_actions(signed, media):
    store = read_manifest(signed)
    manifest = store["manifests"][store["active_manifest"]]
    assert manifest["claim_generator_info"][0]["name"] == "polydub"
    assert manifest["title"] == "talk show.es.mp4"
    [parent] = manifest["ingredients"]
    assert (parent["title"], parent["relationship"], parent["format"]) == ("talk show.mp4", "parentOf", "video/mp4")
    [actions] = [a["data"]["actions"] for a in manifest["assertions"] if a["label"].startswith("c2pa.actions")]
    assert [a["action"] for a in actions] == ["c2pa.opened", "c2pa.translated", "c2pa.dubbed", "c2pa.edited"]
    opened, translated, dubbed, lips = actions
    assert opened["parameters"]["ingredients"]  # resolved to the parent ingredient's hashed link
    assert (translated["parameters"]["sourceLanguage"], translated["parameters"]["targetLanguage"]) == ("en", "es")
    assert translated["parameters"]["transcriber"] == "faster-whisper (large-v3)" and translated["parameters"]["translator"] == "seq2seq"
    assert dubbed["digitalSourceType"] == lips["digitalSourceType"] == TRAINED
    assert (dubbed["parameters"]["synthesizer"], dubbed["parameters"]["voiceCloned"], dubbed["parameters"]["language"]) == ("xtts", True, "es")
    assert (lips["parameters"]["lipSync"], lips["parameters"]["faces"], lips["parameters"]["language"]) == ("ltx", 1, "es")
    assert all(a["softwareAgent"]["name"] == "polydub" for a in actions[1:])
    assert read_tags(signed)["digital_source_type"] == COMPOSITE_TRAINED  # the plain tags survive signing


def test_signature_validates_and_the_test_root_makes_it_trusted(signed, pki):
    store = read_manifest(signed)
    failures = {s["code"] for s in store["validation_results"]["activeManifest"]["failure"]}
    assert store["validation_state"] == "Valid" and failures == {"signingCredential.untrusted"}  # an unknown root, nothing else
    passed = {s["code"] for s in store["validation_results"]["activeManifest"]["success"]}
    assert {"claimSignature.validated", "assertion.bmffHash.match"} <= passed
    trusted = read_manifest(signed, trust_anchors=pki["root"].read_text())
    assert trusted["validation_state"] == "Trusted" and not trusted["validation_results"]["activeManifest"]["failure"]


def test_changing_one_byte_of_the_signed_video_is_detected(signed, pki, tmp_path):
    data = bytearray(signed.read_bytes())
    data[data.index(b"mdat") + 64] ^= 0xFF
    tampered = tmp_path / "tampered.mp4"
    tampered.write_bytes(data)
    store = read_manifest(tampered, trust_anchors=pki["root"].read_text())
    failures = {s["code"] for s in store["validation_results"]["activeManifest"]["failure"]}
    assert store["validation_state"] == "Invalid" and "assertion.bmffHash.mismatch" in failures


def test_a_failed_signing_leaves_no_file_under_the_final_name(pki, tmp_path):
    not_a_video = tmp_path / "broken.mp4"
    not_a_video.write_bytes(b"\0" * 4096)
    out = tmp_path / "out" / "talk.es.mp4"
    settings = SigningSettings(pki["chain"], pki["key"])
    with pytest.raises(SigningError, match="C2PA signing of talk.es.mp4 failed"):
        sign_media(not_a_video, out, _lite(), not_a_video, settings)
    assert list(out.parent.iterdir()) == []


def test_a_source_c2pa_cannot_read_is_named_as_the_parent(media, pki, tmp_path):
    mkv = tmp_path / "talk.mkv"
    ffmpeg("-i", str(media["video"]), "-c", "copy", str(mkv))
    out = sign_media(media["lips"], tmp_path / "talk.es.mp4", _lite(), mkv, SigningSettings(pki["chain"], pki["key"]))
    store = read_manifest(out, trust_anchors=pki["root"].read_text())
    [parent] = store["manifests"][store["active_manifest"]]["ingredients"]
    assert (parent["title"], parent["relationship"], store["validation_state"]) == ("talk.mkv", "parentOf", "Trusted")


def _bad_identity(pki: dict, kind: str) -> tuple[Path, Path]:
    """A certificate chain and key that C2PA must refuse, for one reason each."""
    folder = pki["dir"] / kind
    folder.mkdir(exist_ok=True)
    chain, key = folder / "chain.pem", folder / "key.pem"
    other = ec.generate_private_key(ec.SECP256R1())
    root, root_key = pki["root_cert"], pki["root_key"]
    if kind == "wrong key":
        chain.write_bytes(pki["chain"].read_bytes())
        key.write_bytes(_key_pem(other))
    elif kind == "self-signed":
        chain.write_bytes(_pem(_cert(_name("me"), _name("me"), other.public_key(), other, ca=False)))
        key.write_bytes(_key_pem(other))
    elif kind == "no signing EKU":
        chain.write_bytes(_pem(_cert(_name("web"), root.subject, other.public_key(), root_key, ca=False, eku=(ExtendedKeyUsageOID.SERVER_AUTH,)), root))
        key.write_bytes(_key_pem(other))
    elif kind == "expired":
        chain.write_bytes(_pem(_cert(_name("old"), root.subject, other.public_key(), root_key, ca=False, days=-1), root))
        key.write_bytes(_key_pem(other))
    elif kind == "not PEM":
        chain.write_text("not a certificate")
        key.write_bytes(_key_pem(other))
    elif kind == "missing key":
        chain.write_bytes(pki["chain"].read_bytes())
    return chain, (folder / "missing.pem" if kind == "missing key" else key)


@pytest.mark.parametrize("kind, message", [
    ("wrong key", "does not belong to the first certificate"),
    ("self-signed", "is self-signed"),
    ("no signing EKU", "certificate or key is rejected"),
    ("expired", "is not valid now"),
    ("not PEM", "holds no PEM certificate chain"),
    ("missing key", "cannot read the C2PA signing key"),
])
def test_a_bad_key_or_certificate_fails_preflight_before_any_work(media, pki, tmp_path, monkeypatch, kind, message):
    chain, key = _bad_identity(pki, kind)
    _signing_env(monkeypatch, pki, chain, key)
    out = tmp_path / "out"
    with pytest.raises(SigningError, match=message):
        preflight(LocalizeParams(video=str(media["video"]), targets=["es"], out_dir=str(out)))
    assert not out.exists()  # stopped before the output folder was even made


def test_half_configured_signing_is_an_error(media, pki, tmp_path, monkeypatch):
    monkeypatch.setenv(C2PA_CERT_ENV, str(pki["chain"]))
    monkeypatch.delenv(C2PA_KEY_ENV, raising=False)
    with pytest.raises(SigningError, match=f"{C2PA_CERT_ENV} is set but {C2PA_KEY_ENV} is not"):
        preflight(LocalizeParams(video=str(media["video"]), targets=["es"], out_dir=str(tmp_path / "out")))


def test_a_good_identity_passes_the_check(pki):
    assert "CN=polydub test signer" in check_signing(SigningSettings(pki["chain"], pki["key"]))
