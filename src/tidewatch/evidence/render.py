"""A post or account rendered as a person saw it, from the stored content.

The page is built with Jinja2 autoescaping from hostile text: post text, names and links are
data, never markup; right-to-left text is marked ``dir="auto"``; links are shown, not
followed (no href), and the page loads nothing from anywhere (a Content-Security-Policy that
forbids every fetch), so opening an exported rendering cannot call the smuggler's server.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, select_autoescape

_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))

_PAGE = _ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{{ title }}</title>
<style>
body { font-family: "DejaVu Sans", sans-serif; max-width: 40em; margin: 2em auto; color: #111; }
.post { border: 1px solid #ccc; border-radius: 8px; padding: 1em 1.2em; }
.who { font-weight: bold; } .meta { color: #555; font-size: 0.85em; }
.text { white-space: pre-wrap; font-size: 1.1em; margin: 0.8em 0; overflow-wrap: anywhere; }
.links li { font-family: monospace; overflow-wrap: anywhere; }
footer { color: #666; font-size: 0.75em; margin-top: 1.5em; }
</style></head>
<body>
<div class="post">
  <div class="who" dir="auto">{{ display_name }}</div>
  <div class="meta" dir="auto">{{ handle }} · {{ platform }} · {{ when }}</div>
  {% if title_text %}<h2 dir="auto">{{ title_text }}</h2>{% endif %}
  <div class="text" dir="auto">{{ text }}</div>
  {% if links %}<ul class="links">{% for link in links %}<li dir="ltr">{{ link }}</li>{% endfor %}</ul>{% endif %}
  {% if media %}<div class="meta">{{ media|length }} media item(s): {% for m in media %}{{ m.kind }}{% if not loop.last %}, {% endif %}{% endfor %}</div>{% endif %}
  {% if metrics %}<div class="meta">{{ metrics }}</div>{% endif %}
</div>
<footer>Rendered by Tidewatch from the stored record {{ subject }} (source: {{ url }}). Not a live page.</footer>
</body></html>
"""
)


def render_post(post: dict[str, Any], account: dict[str, Any] | None, subject: str) -> str:
    account = account or {}
    return _PAGE.render(
        title=f"{post.get('platform', '')} post {post.get('native_id', '')}",
        display_name=account.get("display_name")
        or account.get("handle")
        or post.get("account_native_id", ""),
        handle=account.get("handle") or "",
        platform=post.get("platform", ""),
        when=post.get("created_at") or "",
        title_text=post.get("title") or "",
        text=post.get("text") or "",
        links=post.get("links") or [],
        media=post.get("media") or [],
        metrics=post.get("metrics") or "",
        subject=subject,
        url=post.get("url") or "",
    )


def render_account(account: dict[str, Any], subject: str) -> str:
    return _PAGE.render(
        title=f"{account.get('platform', '')} account {account.get('native_id', '')}",
        display_name=account.get("display_name") or account.get("handle") or "",
        handle=account.get("handle") or "",
        platform=account.get("platform", ""),
        when=account.get("created_at") or "",
        title_text="",
        text=account.get("bio") or "",
        links=account.get("links") or [],
        media=[],
        metrics="",
        subject=subject,
        url=account.get("url") or "",
    )
