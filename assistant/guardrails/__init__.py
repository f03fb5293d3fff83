"""Safety stages: triage (red flags), input policy, output policy and redaction."""
