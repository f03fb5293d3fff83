"""The web app: patient chat at `/`, clinician review at `/review`, health at `/healthz` (see `server.py`).

Modules: `server` (FastAPI app, middleware, login), `chat` (patient page), `review` (clinician page),
`render` (replies as safe HTML), `auth` (password hashes, sessions, rate limits).
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # a clinic's server does not call home
