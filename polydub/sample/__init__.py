"""The synthetic sample interview: a short two-speaker video with known ground truth."""

from polydub.sample.build import SampleFiles, build_sample

__all__ = ["SampleFiles", "build_sample"]
