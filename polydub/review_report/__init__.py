"""The review report: one self-contained HTML page per dubbed language, for a person to judge the dub.

It shows the headline measures of report.json with pass/warn marks, a timeline of the lines
coloured by speed factor, every line with its original and dubbed audio, the speakers with
their voices and matched faces, and per speaking face a lip-sync plot and before/after mouth
crops. Nothing on the page is fetched from the network: images and audio are data URIs.
"""

from polydub.review_report.render import render_review_report, review_report_path
from polydub.review_report.thresholds import Check, ReviewThresholds, headline_checks

__all__ = ["Check", "ReviewThresholds", "headline_checks", "render_review_report", "review_report_path"]
