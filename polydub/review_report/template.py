"""The HTML page of the review report: one self-contained file (inline CSS, data URIs, no scripts)."""

from __future__ import annotations

from jinja2 import Environment, StrictUndefined

from polydub.review_report.gather import ReviewData

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>polydub review · {{ d.video }} → {{ d.language }}</title>
<style>
:root { --pass: #1e8449; --warn: #b9770e; --na: #7f8c8d; --line: #d5d8dc; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1280px; padding: 0 20px 40px; color: #1c2833; }
h1 { font-size: 22px; margin: 18px 0 4px; } h2 { font-size: 18px; border-bottom: 2px solid var(--line); padding-bottom: 4px; margin-top: 32px; }
.meta { color: #566573; } nav a { margin-right: 14px; }
table { border-collapse: collapse; width: 100%; } th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f6f7; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.mark { font-weight: bold; white-space: nowrap; } .pass { color: var(--pass); } .warn { color: var(--warn); } .na { color: var(--na); }
.summary-counts span { margin-right: 16px; font-weight: bold; }
tr.over-bound td { background: #fdedec; } .flag { color: #c0392b; font-weight: bold; }
audio { height: 30px; width: 190px; }
img.plot { width: 100%; height: auto; }
.cards { display: flex; flex-wrap: wrap; gap: 16px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; min-width: 260px; }
.card.off-screen { background: #f8f9f9; border-style: dashed; }
.badge { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 12px; background: #d6eaf8; }
.off-screen .badge { background: #e5e7e9; }
.strip td { text-align: center; font-size: 12px; color: #566573; border: none; }
.strip img { display: block; margin: auto; }
</style>
</head>
<body>
<header id="summary">
<h1>Review: {{ d.video }} → {{ d.language }}</h1>
<p class="meta">polydub {{ d.version }} · profile {{ d.profile }} · {{ d.lines|length }} lines · {{ d.speakers|length }} speakers</p>
<nav><a href="#timeline">Timeline</a><a href="#lines">Lines</a><a href="#speakers">Speakers</a><a href="#lipsync">Lip sync</a></nav>
<p class="summary-counts"><span class="pass">✓ {{ counts.pass }} pass</span><span class="warn">⚠ {{ counts.warn }} warn</span><span class="na">– {{ counts.na }} not measured</span></p>
<table id="checks">
<thead><tr><th>measure</th><th>value</th><th>threshold</th><th>mark</th></tr></thead>
<tbody>
{% for c in d.checks %}<tr class="check" data-status="{{ c.status }}"><td>{{ c.name }}</td><td>{{ c.value }}</td><td>{{ c.rule }}</td>
<td class="mark {{ c.status|replace('/', '') }}">{{ {"pass": "✓ pass", "warn": "⚠ warn", "n/a": "– n/a"}[c.status] }}</td></tr>
{% endfor %}</tbody>
</table>
</header>

<section id="timeline">
<h2>Timeline</h2>
<img class="plot" src="{{ d.timeline }}" alt="Timeline: speaker turns and dubbed lines coloured by speed factor">
</section>

<section id="lines">
<h2>Lines</h2>
<table>
<thead><tr><th>#</th><th>time</th><th>speaker</th><th>source text</th><th>target text</th><th>speed</th><th>original</th><th>dubbed</th></tr></thead>
<tbody>
{% for l in d.lines %}<tr class="line{% if l.over_bound %} over-bound{% endif %}" data-index="{{ l.index }}" data-speaker="{{ l.speaker }}" data-start="{{ l.start }}" data-end="{{ l.end }}">
<td class="num">{{ l.index }}</td><td class="num">{{ clock(l.start) }}–{{ clock(l.end) }}</td><td>{{ l.speaker }}</td>
<td class="source-text">{{ l.source_text }}</td><td class="target-text">{{ l.target_text }}</td>
<td class="num">{{ "%.2f"|format(l.speed) }}{% if l.over_bound %} <span class="flag" title="outside the speed bounds">⚠ over bound</span>{% endif %}</td>
<td><audio class="original" controls preload="auto" src="{{ l.original_audio }}"></audio></td>
<td><audio class="dubbed" controls preload="auto" src="{{ l.dubbed_audio }}"></audio></td></tr>
{% endfor %}</tbody>
</table>
</section>

<section id="speakers">
<h2>Speakers</h2>
<div class="cards">
{% for s in d.speakers %}<div class="card speaker {{ 'on-screen' if s.on_screen else 'off-screen' }}" data-speaker="{{ s.speaker }}" data-face="{{ s.face or '' }}">
<h3>{{ s.speaker }} <span class="badge">{{ 'on screen: ' ~ s.face if s.on_screen else 'off-screen' }}</span></h3>
{% if s.thumbnail %}<img class="thumbnail" src="{{ s.thumbnail }}" alt="face {{ s.face }}" height="112">{% endif %}
<p>face match: {% if s.on_screen %}{{ s.face }}, confidence {{ "%.2f"|format(s.confidence) }}{% else %}none (never seen speaking){% endif %}
{% if s.scores %}<br><small>scores: {% for k, v in s.scores|dictsort %}{{ k }} {{ "%.2f"|format(v) }}{% if not loop.last %}, {% endif %}{% endfor %}</small>{% endif %}</p>
<p>voice: {% if s.voice %}{{ s.voice.name }} (pitch {{ s.voice.pitch }}{% if s.voice.f0_hz %}, {{ "%.0f"|format(s.voice.f0_hz) }} Hz{% endif %}){% else %}—{% endif %}</p>
{% if s.similarity %}<table class="similarity"><tbody>
{% for k, v in s.similarity|dictsort %}<tr><td>{{ k|replace("_", " ") }}</td><td class="num">{{ "%.3f"|format(v) }}</td></tr>{% endfor %}
</tbody></table>{% endif %}
<p><small>lines: {{ s.lines|join(", ") or "none" }}</small></p>
</div>
{% endfor %}{% for identity, thumb in d.silent_faces %}<div class="card silent-face" data-face="{{ identity }}">
<h3>{{ identity }} <span class="badge">never speaks</span></h3>{% if thumb %}<img class="thumbnail" src="{{ thumb }}" alt="face {{ identity }}" height="112">{% endif %}
<p>not changed by lip sync</p></div>
{% endfor %}</div>
</section>

<section id="lipsync">
<h2>Lip sync</h2>
<p>status: <b>{{ d.lip_status }}</b>{% if d.psnr_outside_masks_db is not none %} · PSNR outside the mouth masks {{ "%.1f"|format(d.psnr_outside_masks_db) }} dB{% endif %}</p>
{% for f in d.lip_faces %}<div class="lip-face" data-face="{{ f.identity }}">
<h3>{{ f.identity }} ({{ f.speaker }})</h3>
<p>sync on output {{ num(f.score.sync_output) }} · on source {{ num(f.score.sync_source) }} · frames changed {{ f.score.frames_changed }}
 · PSNR in face box outside mouth {{ num(f.score.psnr_outside_mask_db, ".1f") }} dB · listening PSNR {{ num(f.score.listening_psnr_db, ".1f") }} dB</p>
{% if f.plot %}<img class="plot" src="{{ f.plot }}" alt="mouth opening vs dubbed envelope for {{ f.identity }}">{% else %}<p>no per-frame series saved</p>{% endif %}
{% if f.strip %}<table class="strip"><tbody>
<tr><td>before</td>{% for s in f.strip %}<td><img class="before" src="{{ s.before }}" alt="source frame {{ s.frame }}"></td>{% endfor %}</tr>
<tr><td>after</td>{% for s in f.strip %}<td><img class="after" src="{{ s.after }}" alt="output frame {{ s.frame }}"></td>{% endfor %}</tr>
<tr><td></td>{% for s in f.strip %}<td>frame {{ s.frame }} · {{ clock(s.time) }}</td>{% endfor %}</tr>
</tbody></table>{% endif %}
</div>
{% else %}<p>No face was lip-synced in this language.</p>
{% endfor %}</section>
</body>
</html>
"""


def clock(seconds: float) -> str:
    """``m:ss.s`` for a time in seconds."""
    minutes, rest = divmod(max(0.0, seconds), 60.0)
    return f"{int(minutes)}:{rest:04.1f}"


def num(value: float | None, fmt: str = ".2f") -> str:
    """A number, or a dash when it was not measured."""
    return "—" if value is None else format(value, fmt)


_ENV = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=False)
_TEMPLATE = _ENV.from_string(PAGE)


def render_html(data: ReviewData) -> str:
    """The page for ``data``."""
    counts = {"pass": 0, "warn": 0, "na": 0}
    for check in data.checks:
        counts["na" if check.status == "n/a" else check.status] += 1
    return _TEMPLATE.render(d=data, counts=counts, clock=clock, num=num)
