"""Moved to `assistant.web.ratelimit` (a module named for what it holds); this re-export remains only
because `assistant/web/chat.py` still imports `assistant.web.limits` and is being rewritten for issue 11.
Remove this file when that rewrite lands and imports `assistant.web.ratelimit` instead.
"""

from assistant.web.ratelimit import ChatLimiter, LoginLimiter, SlidingWindow

__all__ = ["ChatLimiter", "LoginLimiter", "SlidingWindow"]
