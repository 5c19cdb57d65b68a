"""URLs a platform can resolve for an account or a post, when the source gave none.

Native ids and handles come from hostile input: each is percent-encoded as one path segment,
so a handle can never add a path, a query or another host to the URL."""

from __future__ import annotations

from urllib.parse import quote


def _seg(value: str) -> str:
    return quote(value, safe="")


def account_url(platform: str, native_id: str, handle: str = "") -> str:
    handle = handle.lstrip("@")
    if platform == "x":
        return f"https://x.com/i/user/{_seg(native_id)}"
    if platform == "facebook":
        return f"https://www.facebook.com/{_seg(native_id)}"
    if platform == "instagram":
        return f"https://www.instagram.com/{_seg(handle)}/" if handle else ""
    if platform == "tiktok":
        return f"https://www.tiktok.com/@{_seg(handle)}" if handle else ""
    if platform == "youtube":
        return f"https://www.youtube.com/channel/{_seg(native_id)}"
    if platform == "telegram":
        return f"https://t.me/{_seg(handle)}" if handle else ""
    return ""


def post_url(platform: str, native_id: str, handle: str = "") -> str:
    handle = handle.lstrip("@")
    if platform == "x":
        return f"https://x.com/i/web/status/{_seg(native_id)}"
    if platform == "facebook":
        return f"https://www.facebook.com/{_seg(native_id)}"
    if platform == "tiktok" and handle:
        return f"https://www.tiktok.com/@{_seg(handle)}/video/{_seg(native_id)}"
    if platform == "youtube":
        return f"https://www.youtube.com/watch?v={_seg(native_id)}"
    message = native_id.rpartition("/")[2]  # Telegram ids are "<chat id>/<message number>"
    if platform == "telegram" and handle and message.isdigit():
        return f"https://t.me/{_seg(handle)}/{message}"
    return ""
