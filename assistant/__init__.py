"""physio-assistant: a safe, offline sciatica and low back pain assistant for physiotherapy clinics."""

__version__ = "0.1.0"
