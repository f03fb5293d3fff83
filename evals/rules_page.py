"""The red-flag rules as a page a clinician can review: flag, then the findings that raise it, then examples.

Written beside the eval report (`rules.html`, `rules.md`). Reads the same files the engine runs
(`knowledge/safety/triage.yaml`, `net.yaml`), so what the reviewer signs is what runs.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, select_autoescape

from assistant.guardrails.rules import RuleFile, load_rule_file
from assistant.guardrails.triager import NetPolicy, load_net_policy

_MD = """# Red-flag rules for review

Generated from `knowledge/safety/triage.yaml` and `knowledge/safety/net.yaml`. Each flag lists when
it fires (any one line: all of its findings in the conversation), the screening question, and the
examples that the test suite runs. Sign off each flag, or write what should change.

{% for f in flags %}
## {{ f.id }} ({{ f.level.value }}{% if f.screen %}, asks first{% endif %})
**Condition:** {{ f.condition }}
{% if f.reason %}**What the patient is told:** {{ f.reason }}{% endif %}

**Fires when** (any line):
{% for group in f.when %}- {{ group | map('describe') | join(' + ') }}
{% endfor %}
{% if f.screening_question %}**Screening question:** {{ f.screening_question }}{% endif %}

{% if f.examples.fire %}**Must fire:**
{% for e in f.examples.fire %}- {{ e }}
{% endfor %}{% endif %}
{% if f.examples.quiet %}**Must stay quiet:**
{% for e in f.examples.quiet %}- {{ e }}
{% endfor %}{% endif %}
Reviewer: ____________  Date: ________  Approved / Change: ____________
{% endfor %}

# The learned net beside the rules
A strong signal escalates to the family's flag; a moderate one asks the question below with its
advice. Thresholds were chosen by cross-validation (`physio-assistant train-triage`).

| family | escalates to | escalate at | ask at | question |
| --- | --- | --- | --- | --- |
{% for name, fam in net.families.items() %}| {{ name }} | {{ fam.flag }} | {{ net.thresholds[name].escalate }} | {{ net.thresholds[name].ask }} | {{ fam.question }} |
{% endfor %}

# What says a sign is over
A sign told with one of these in its sentence is history, not news, unless the sentence goes on to say
it changed or came back (`context.resolved` in `triage.yaml`; a history such as cancer stays a risk
factor whatever follows it).
{% if resolved %}
| part | pattern |
| --- | --- |
{% for name, pattern in resolved.items() %}| {{ name }} | `{{ pattern | replace('|', '\\|') }}` |
{% endfor %}{% endif %}

# Findings
{% for x in findings %}- **{{ x.id }}**: {% if x.all %}all of [{{ x.all | join(', ') }}]{% endif %}{% if x.phrases %}{% if x.all %} or {% endif %}{{ x.phrases | length }} phrase(s){% endif %}{% if x.unless %}; not when [{{ x.unless | join(', ') }}]{% endif %}
{% endfor %}
"""


def render_markdown(rules: RuleFile, net: NetPolicy) -> str:
    env = Environment(autoescape=False, trim_blocks=False)
    findings = {f.id: f for f in rules.findings}

    def describe(fid: str) -> str:
        f = findings.get(fid)
        if f is None:
            return f"{fid} (age)"
        return f"{fid} ({', '.join(f.all) or 'phrases'})"

    env.filters["describe"] = describe
    resolved = rules.context.resolved
    parts = {"resolved": resolved} if isinstance(resolved, str) else resolved.parts
    return env.from_string(_MD).render(flags=rules.flags, findings=rules.findings, net=net, resolved=parts)


def render_html(markdown_text: str) -> str:
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown_text)
    env = Environment(autoescape=select_autoescape(default=True))
    page = env.from_string(
        "<!doctype html><html lang=en><meta charset=utf-8><title>Red-flag rules for review</title>"
        "<style>body{font:15px/1.5 system-ui;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "h2{border-top:1px solid #ccc;padding-top:1rem}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem}</style>"
        "<body>{{ body | safe }}</body></html>"
    )
    return page.render(body=body)


def write_rules_page(knowledge: Path, out_dir: Path) -> Path:
    md = render_markdown(load_rule_file(knowledge / "safety" / "triage.yaml"), load_net_policy(knowledge))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "rules.md").write_text(md, encoding="utf-8")
    path = out_dir / "rules.html"
    path.write_text(render_html(md), encoding="utf-8")
    return path
