"""Find the online meeting a calendar event points at.

Providers put the join link in many places: a structured conference field,
the location, or somewhere in a free-text (often HTML) description that has
been through mail gateways and link scanners. `detect_meeting` reads the raw
provider event and answers one question: is there a meeting a bot could join,
and where? `normalize_join_url` answers "is this the same meeting?".

How it stays safe and fast on hostile input:
- URLs are found with `str.find` plus one character-class regex that cannot
  backtrack, and every loop is bounded (URLs per text, unwrap depth, wrapped
  lines), so a 50 KB adversarial body costs well under a millisecond or two.
- A URL counts only if its host is on a platform's allow-list (exact domain
  or a real subdomain of it) *and* its path has the shape of a join link, so
  download/help/meeting-options pages and look-alike hosts fall out.
- Nothing raises: calendar data is untrusted and one odd event must not stop
  a sync.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_right, insort
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

PLATFORMS = ("zoom", "meet", "teams", "webex", "goto", "chime", "whereby", "jitsi", "other")


@dataclass(frozen=True)
class Meeting:
    url: str  # canonical join URL a person would click
    platform: str  # one of PLATFORMS
    # normalize_join_url(url), known already from the detection: saves classifying the link twice
    key: str = field(default="", compare=False)


# Bounds that keep the cost of one event predictable whatever it contains.
MAX_TEXT_LENGTH = 512 * 1024
MAX_URLS_PER_TEXT = 200
MAX_URL_LENGTH = 4096
MAX_UNWRAP_DEPTH = 5
MAX_WRAPPED_LINES = 12
WRAPPED_LINE_MIN_LENGTH = 60
MAX_BRACKETED_URL = 4096
MAX_HOST_LOOKBACK = 64
MAX_TRAILING_STRIP = 16

# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def detect_meeting(provider: str, event: dict) -> Meeting | None:
    """The joinable online meeting of a Google Calendar or Microsoft Graph event, if any.

    `provider` is accepted for the caller's clarity, but both event shapes are
    read regardless: their field names do not collide, and a mislabelled event
    should still be understood.
    """
    try:
        candidate = _detect(event)
    except Exception:  # last line of defence; the code paths are written not to raise
        return None
    return Meeting(candidate.url, candidate.platform, candidate.key) if candidate else None


def normalize_join_url(url: str) -> str:
    """A key that is equal for two links to the same meeting on the same platform.

    Host case, scheme, tracking parameters, trailing slashes, redirect
    wrappers, vanity subdomains and passcodes do not change the key; the
    meeting id does.
    """
    try:
        return _normalize(url)
    except Exception:
        return url.strip() if isinstance(url, str) else ""


# ---------------------------------------------------------------------------
# Candidates and source tiers
# ---------------------------------------------------------------------------


class _Candidate(NamedTuple):
    platform: str
    url: str
    key: str  # what normalize_join_url returns for this link
    credentials: int  # parameters that spare a person a prompt (pwd, p, context, tk...)
    complete: bool  # False when the link looks cut short (e.g. by line wrapping)
    joinable: bool = True  # False when cut so short it cannot open the meeting at all


def _detect(event: Any) -> _Candidate | None:
    if not isinstance(event, Mapping):
        return None
    tiers = (
        _conference_candidates,
        _location_candidates,
        _description_candidates,
        _preview_candidates,
        _title_candidates,
    )
    for index, tier in enumerate(tiers):
        candidates = [candidate for candidate in tier(event) if candidate.joinable]
        if not candidates:
            continue
        chosen = _best_of_first_meeting(candidates)
        if chosen.credentials == 0 and chosen.platform in _PLATFORMS_WITH_CREDENTIALS:
            chosen = _enrich_from_later_tiers(chosen, event, tiers[index + 1 :])
        return chosen
    return None


# Platforms whose links can carry a passcode or tenant context worth looking for.
_PLATFORMS_WITH_CREDENTIALS = frozenset({"zoom", "teams", "whereby"})


def _best_of_first_meeting(candidates: list[_Candidate]) -> _Candidate:
    """The first meeting mentioned wins; among its links, the one that carries most."""
    first = candidates[0]
    best = first
    for candidate in candidates[1:]:
        if candidate.key == first.key and (candidate.credentials, candidate.complete) > (
            best.credentials,
            best.complete,
        ):
            best = candidate
    return best


def _enrich_from_later_tiers(chosen: _Candidate, event: Mapping, tiers: tuple) -> _Candidate:
    """Keep the meeting the higher-priority source named, but take its passcode-bearing link
    if a lower-priority source has one (e.g. location without pwd, description with)."""
    for tier in tiers:
        for candidate in tier(event):
            if candidate.joinable and candidate.key == chosen.key and candidate.credentials > chosen.credentials:
                chosen = chosen._replace(url=candidate.url, credentials=candidate.credentials)
    return chosen


def _get(container: Any, name: str) -> Any:
    # Events are decoded JSON: a plain dict is checked first, as the ABC check costs ~10x more.
    return container.get(name) if type(container) is dict or isinstance(container, Mapping) else None


def _items(value: Any) -> list:
    return value if isinstance(value, (list, tuple)) else []


def _conference_candidates(event: Mapping) -> list[_Candidate]:
    """Structured conference fields: Google conferenceData/hangoutLink, Graph onlineMeeting."""
    values: list[Any] = []
    for entry in _items(_get(_get(event, "conferenceData"), "entryPoints")):
        if _get(entry, "entryPointType") == "video":
            values.append(_get(entry, "uri"))
    values.append(_get(event, "hangoutLink"))
    values.append(_get(_get(event, "onlineMeeting"), "joinUrl"))
    values.append(_get(event, "onlineMeetingUrl"))
    candidates = []
    seen = set()
    for value in values:
        # Google repeats the Meet link in hangoutLink and the video entry point: read it once.
        if isinstance(value, str) and value.strip() and value not in seen:
            seen.add(value)
            candidates.extend(_conference_field_candidates(value))
    return candidates


_CANONICAL_MEET = re.compile(r"https://meet\.google\.com/[a-z]{3}-[a-z]{4}-[a-z]{3}")


def _conference_field_candidates(value: str) -> list[_Candidate]:
    # A conference field holds one URL put there by the provider or an add-on,
    # so an unfamiliar host there is still a meeting ("other"); only if the field
    # does not parse as a single URL do we read it like free text.
    token = value.strip().strip("<>\"' ")
    if _CANONICAL_MEET.fullmatch(token):
        # Google's own hangoutLink, in the form _meet would give it back: most Workspace events
        # carry one, and a sync reads thousands a second.
        return [_Candidate("meet", token, token, 0, True)]
    if "://" in token and len(token) <= MAX_URL_LENGTH and len(token.split()) == 1:
        candidate = _classify(token, trusted=True)
        if candidate:
            return [candidate]
    return _text_candidates(value)


def _location_candidates(event: Mapping) -> list[_Candidate]:
    texts: list[Any] = []
    location = _get(event, "location")
    if isinstance(location, str):
        texts.append(location)
    else:
        texts += [_get(location, "locationUri"), _get(location, "displayName")]
    for item in _items(_get(event, "locations")):
        texts += [_get(item, "locationUri"), _get(item, "displayName")]
    return _candidates_from_texts(texts)


def _description_candidates(event: Mapping) -> list[_Candidate]:
    body = _get(event, "body")
    body_text = _get(body, "content") if isinstance(body, Mapping) else body
    return _candidates_from_texts([_get(event, "description"), body_text])


def _preview_candidates(event: Mapping) -> list[_Candidate]:
    # Graph's bodyPreview is the first 255 characters of the body as text: only
    # useful when the body itself is missing, and links in it may be cut short.
    return _candidates_from_texts([_get(event, "bodyPreview")])


def _title_candidates(event: Mapping) -> list[_Candidate]:
    # People do paste links into titles; last resort, still host/path checked.
    return _candidates_from_texts([_get(event, "summary"), _get(event, "subject")])


def _candidates_from_texts(texts: list[Any]) -> list[_Candidate]:
    candidates: list[_Candidate] = []
    for text in texts:
        if isinstance(text, str) and text:
            candidates.extend(_text_candidates(text))
    return candidates


# ---------------------------------------------------------------------------
# Finding URLs in free text (plain or HTML, treated alike)
# ---------------------------------------------------------------------------

# Everything that cannot be inside a URL as written in text or an HTML attribute.
# A single negated character class: matching it is linear, it cannot backtrack.
_URL_CHARS = re.compile("[^\\s<>\"'`|\\\\^\u200b\u200c\u200d\u2060\ufeff\u201c\u201d\u2018\u2019\u00ab\u00bb]*")
_SCHEMES = ("https", "http", "zoommtg", "zoomus")
_HOST_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789.-"
# Scheme-less mentions we still recognise, e.g. a location of "meet.google.com/abc-defg-hij".
_BARE_HOST_MARKERS = (
    "zoom.us/",
    "zoom.com/",
    "zoomgov.com/",
    "meet.google.com/",
    "teams.microsoft.com/",
    "teams.live.com/",
    "teams.microsoft.us/",
    "webex.com/",
    "meet.goto.com/",
    "gotomeeting.com/",
    "gotomeet.me/",
    "chime.aws/",
    "whereby.com/",
    "meet.jit.si/",
    "8x8.vc/",
    "bluejeans.com/",
)
# A character right before a scheme-less host that says it is part of something
# else (an email address, a path, a query), not a link of its own.
_NOT_A_BARE_HOST_PREFIX = "/@=%&?_~+#\\"


class _Span(NamedTuple):
    start: int
    end: int
    token: str  # the URL text, with the scheme added for scheme-less mentions


def _text_candidates(text: str) -> list[_Candidate]:
    text = text[:MAX_TEXT_LENGTH]
    lowered = _ascii_lower(text)
    spans = _find_scheme_urls(text, lowered)
    candidates = _classify_spans(text, spans)
    if not candidates and len(spans) < MAX_URLS_PER_TEXT:
        # Scheme-less mentions ("meet.google.com/abc-defg-hij") are a fallback:
        # a text with a proper link means that link.
        candidates = _classify_spans(text, _find_bare_urls(text, lowered, spans))
    return candidates


def _classify_spans(text: str, spans: list[_Span]) -> list[_Candidate]:
    candidates = []
    seen: dict[str, _Candidate | None] = {}
    for span in spans:
        token = span.token
        if token in seen:
            candidate = seen[token]
        elif len(token) > MAX_URL_LENGTH or not _worth_classifying(token):
            candidate = seen[token] = None
        else:
            candidate = seen[token] = _classify(token)
        if candidate and span.end < len(text) and text[span.end] in "\r\n":
            candidate = _follow_line_wraps(text, span, candidate)
        if candidate:
            candidates.append(candidate)
    return candidates


_HOST_END = re.compile(r"[/?#\\]")


def _worth_classifying(token: str) -> bool:
    """Cheap pre-check on the host before the full clean/unwrap/parse: most links in
    real bodies (documents, help, trackers) are on hosts we would never accept."""
    start = token.find("://") + 3
    stop = _HOST_END.search(token, start)
    host = token[start : stop.start() if stop else len(token)].lower()
    host = host.rpartition("@")[2].partition(":")[0].rstrip(".")
    if "&" in host or "%" in host:
        return True  # entity- or percent-encoded: let the full path decide
    return (
        _classifier_for_host(host) is not None
        or "safelinks" in host
        or "google." in host
        or host.startswith("urldefense.")
        or host.endswith(".mcas.ms")
        or "cdn.office.net" in host
    )


def _ascii_lower(text: str) -> str:
    """Lower-case ASCII with every position kept aligned with `text`.

    str.lower() can turn one character into two ("İ"), shifting positions;
    replacing non-ASCII by "?" keeps one byte per character, and no scheme or
    host we look for contains either.
    """
    if text.isascii():
        return text.lower()
    return text.encode("ascii", "replace").lower().decode("ascii")


def _find_scheme_urls(text: str, lowered: str) -> list[_Span]:
    spans: list[_Span] = []
    match_url = _URL_CHARS.match
    position = 0
    while len(spans) < MAX_URLS_PER_TEXT:
        separator = text.find("://", position)
        if separator < 0:
            break
        end = match_url(text, separator + 3).end()
        position = max(end, separator + 3)
        start = _scheme_start(lowered, separator)
        if start is None or end == separator + 3:
            continue
        if text[end - 1] == "{":
            end = _extend_over_braces(text, end)
        token = text[start:end]
        if start and text[start - 1] == "<":
            bracketed = _rejoin_bracketed(text, start, end)
            if bracketed:
                token, end = bracketed
        spans.append(_Span(start, end, token))
        position = end
    return spans


def _scheme_start(lowered: str, separator: int) -> int | None:
    # Look back only a few characters: HTML-to-text conversions glue words onto
    # schemes ("Join the meeting nowhttps://..."), so match the scheme as a suffix.
    if lowered.startswith("https", separator - 5):  # the common case first
        return separator - 5
    before = lowered[max(0, separator - 8) : separator]
    for scheme in _SCHEMES:
        if before.endswith(scheme):
            return separator - len(scheme)
    return None


def _extend_over_braces(text: str, end: int) -> int:
    """Unencoded Teams links carry JSON (context={"Tid":"..."}); the quotes in it end a
    URL early, so carry on to the closing brace when one is close by."""
    close = text.find("}", end, end + 1024)
    if close < 0:
        return end
    unquoted = text[end:close].replace('"', "")
    if _URL_CHARS.match(unquoted).end() != len(unquoted):
        return end  # whitespace or markup inside: not one URL
    return close + 1


_WHITESPACE_RUN = re.compile(r"(\s+)")


def _rejoin_bracketed(text: str, start: int, end: int) -> tuple[str, int] | None:
    """`<https://...>` in plain-text mail may be wrapped across lines (RFC 3986 App. C);
    whitespace up to the closing bracket is then part of the URL."""
    if end >= len(text) or not text[end].isspace():
        return None
    close = text.find(">", end, end + MAX_BRACKETED_URL)
    if close < 0 or "<" in text[end:close]:
        return None
    pieces = _WHITESPACE_RUN.split(text[start:close])
    url_pieces, whitespace_runs = pieces[0::2], pieces[1::2]
    if not all("\n" in run for run in whitespace_runs):
        return None  # spaces within a line mean prose, not a wrapped link
    if not all(_URL_CHARS.fullmatch(piece) for piece in url_pieces):
        return None
    return "".join(url_pieces), close


def _find_bare_urls(text: str, lowered: str, spans: list[_Span]) -> list[_Span]:
    taken = [(span.start, span.end) for span in spans]
    found: list[_Span] = []
    attempts = 0
    for marker in _BARE_HOST_MARKERS:
        position = 0
        while attempts < MAX_URLS_PER_TEXT:
            hit = lowered.find(marker, position)
            if hit < 0:
                break
            attempts += 1
            position = hit + 1
            covering = _covering_span(taken, hit)
            if covering is not None:
                position = covering
                continue
            window = lowered[max(0, hit - MAX_HOST_LOOKBACK) : hit]
            host_start = hit - (len(window) - len(window.rstrip(_HOST_CHARS)))
            if host_start == hit - MAX_HOST_LOOKBACK and host_start > 0:
                continue  # implausibly long host
            if host_start > 0 and text[host_start - 1] in _NOT_A_BARE_HOST_PREFIX:
                continue
            end = _URL_CHARS.match(text, hit).end()
            found.append(_Span(host_start, end, "https://" + text[host_start:end]))
            insort(taken, (host_start, end))
            position = end
    found.sort()
    return found


def _covering_span(taken: list[tuple[int, int]], position: int) -> int | None:
    """End of the already-found URL that contains `position`, if any."""
    index = bisect_right(taken, (position, float("inf"))) - 1
    if index >= 0 and taken[index][0] <= position < taken[index][1]:
        return taken[index][1]
    return None


def _follow_line_wraps(text: str, span: _Span, candidate: _Candidate) -> _Candidate:
    """A link that ends at a line break may continue on the next line (hard-wrapped
    plain text). Join the next line only when that is clearly what happened."""
    token, end = span.token, span.end
    line_start = text.rfind("\n", 0, span.start) + 1
    for _ in range(MAX_WRAPPED_LINES):
        if end >= len(text) or text[end] not in "\r\n":
            break
        next_start = end + (2 if text.startswith("\r\n", end) else 1)
        piece_end = _URL_CHARS.match(text, next_start).end()
        piece = text[next_start:piece_end]
        if not _could_continue_url(piece) or len(token) + len(piece) > MAX_URL_LENGTH:
            break
        joined = _classify(token + piece)
        piece_is_whole_line = piece_end >= len(text) or text[piece_end] in "\r\n"
        if not _is_wrapped(candidate, joined, piece, end - line_start, piece_is_whole_line):
            break
        token, candidate = token + piece, joined
        line_start, end = next_start, piece_end
    return candidate


def _could_continue_url(piece: str) -> bool:
    return (
        bool(piece)
        and "://" not in piece
        and not piece.endswith(":")
        and piece[0] not in "+-*•([<#"
        and not _starts_with_host_name(piece)
    )


def _starts_with_host_name(piece: str) -> bool:
    """"meet.google.com/abc" or "www.example.com" on the next line is a link of its
    own, not the tail of the one above (a tail like ".v2/0?co" or "thread.v2" is not)."""
    labels = piece.split("/", 1)[0].split(".")
    return (
        len(labels) >= 2
        and all(label and label.isascii() and label.replace("-", "").isalnum() for label in labels)
        and labels[-1].isalpha()
        and len(labels[-1]) >= 2
    )


def _is_wrapped(
    before: _Candidate,
    joined: _Candidate | None,
    piece: str,
    line_length: int,
    piece_is_whole_line: bool,
) -> bool:
    if joined is None or joined.platform != before.platform:
        return False
    if not before.complete and joined.complete:
        return True
    if line_length < WRAPPED_LINE_MIN_LENGTH:  # mailers wrap at 72-78 columns, not earlier
        return False
    if any(ch in piece for ch in "%=&?/_~"):
        return True
    return _looks_encoded(piece) and (piece_is_whole_line or not before.complete)


def _looks_encoded(piece: str) -> bool:
    """Base64-ish (a passcode tail) rather than a word: has digits or inner capitals."""
    if not piece.isascii() or not piece.replace(".", "").replace("-", "").isalnum():
        return False
    return any(ch.isdigit() for ch in piece) or any(
        piece[i].isupper() and piece[i - 1].islower() for i in range(1, len(piece))
    )


# ---------------------------------------------------------------------------
# One URL: clean, unwrap redirects, parse, classify
# ---------------------------------------------------------------------------


class _Url(NamedTuple):
    scheme: str
    host: str  # lower case, no userinfo, port or trailing dot
    port: int | None
    path: str
    query: str
    fragment: str


_TRAILING_PUNCTUATION = ".,;:!?*'\""
# Only entities closed by ";" are decoded: html.unescape alone would also turn
# legacy bare names into characters ("&param=1" -> "¶m=1") and corrupt queries.
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_CLOSERS = {")": "(", "]": "[", "}": "{", ">": "<"}


def _clean_token(raw: str) -> str:
    """The URL a person meant: entities decoded, surrounding punctuation dropped."""
    token = raw.strip().strip("<>\"'")
    for _ in range(3):  # HTML stored inside HTML is escaped twice ("&amp;amp;")
        if "&" not in token or ";" not in token:
            break
        decoded = _ENTITY.sub(_decode_entity, token)
        if decoded == token:
            break
        token = decoded[: _URL_CHARS.match(decoded).end()]
    for _ in range(MAX_TRAILING_STRIP):
        if not token:
            break
        last = token[-1]
        opener = _CLOSERS.get(last)
        if last in _TRAILING_PUNCTUATION or (opener and token.count(last) > token.count(opener)):
            token = token[:-1]
        else:
            break
    return token


def _decode_entity(match: re.Match) -> str:
    return html.unescape(match.group(0))


def _parse(url: str) -> _Url | None:
    try:
        parts = urlsplit(url)
        host = parts.hostname
        try:
            port = parts.port
        except ValueError:
            port = None
    except ValueError:  # e.g. unbalanced "[" in the host
        return None
    if not host:
        return None
    host = host.rstrip(".")
    if host.endswith(".mcas.ms"):  # Defender for Cloud Apps proxy suffix
        host = host[: -len(".mcas.ms")]
    return _Url(parts.scheme, host, port, parts.path, parts.query, parts.fragment)


def _classify(token: str, trusted: bool = False) -> _Candidate | None:
    url = _clean_token(token)
    parsed = None
    for _ in range(MAX_UNWRAP_DEPTH + 1):
        parsed = _parse(url)
        if parsed is None:
            return None
        inner = _redirect_target(parsed, url)
        if inner is None:
            break
        url = _clean_token(inner if "://" in inner else "https://" + inner.lstrip("/"))
    else:
        return None  # wrapped deeper than any real mail gateway chain
    if parsed.scheme not in ("http", "https", "zoommtg", "zoomus"):
        return None
    classifier = _classifier_for_host(parsed.host)
    if classifier is not None:
        return classifier(parsed)
    if trusted and parsed.scheme in ("http", "https") and not _looks_like_impersonation(parsed, url):
        return _Candidate("other", _https(parsed, parsed.path, parsed.query), _generic_key(parsed), 0, True)
    return None


def _redirect_target(parsed: _Url, url: str) -> str | None:
    """The link behind a mail-security or search redirect, if this is one."""
    host = parsed.host
    if "safelinks" in host or ("cdn.office.net" in host and "safelinks" in parsed.path):
        return _param(parsed.query, "url")
    if host.startswith("urldefense."):
        return _proofpoint_target(parsed, url)
    if "google." in host and parsed.path == "/url":
        return _param(parsed.query, "q") or _param(parsed.query, "url")
    return None


_PROOFPOINT_ESCAPE = re.compile(r"-([0-9A-Fa-f]{2})")


def _proofpoint_target(parsed: _Url, url: str) -> str | None:
    if parsed.path.startswith("/v2/url"):
        wrapped = _param(parsed.query, "u")
        if wrapped:
            return unquote(_PROOFPOINT_ESCAPE.sub(r"%\1", wrapped.replace("_", "/")))
    marker = url.find("/v3/__")
    if marker >= 0:
        close = url.find("__;", marker + 6)
        return url[marker + 6 : close] if close > 0 else None
    return None


def _param(query: str, name: str) -> str | None:
    """First value of a query parameter, percent-decoded (not '+'-decoded: these are URLs)."""
    if not query:
        return None
    lowered = query.lower()
    target = name.lower() + "="
    if lowered.startswith(target):
        start = len(target)
    else:
        at = lowered.find("&" + target)
        if at < 0:
            return None
        start = at + 1 + len(target)
    stop = query.find("&", start)
    return unquote(query[start : stop if stop >= 0 else len(query)])


_TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "_hsenc", "_hsmi", "igshid", "yclid"}
)
_PASSCODE_PARAMS = frozenset({"pwd", "passcode", "password", "p", "tk", "uname", "from"})


def _is_tracking(name: str) -> bool:
    name = name.lower()
    return name.startswith("utm_") or name in _TRACKING_PARAMS


# One scan for "could there be a tracking parameter here at all" (most links have none).
_TRACKING_HINT = re.compile("|".join(["utm_", *sorted(_TRACKING_PARAMS)]), re.IGNORECASE)


def _without_tracking(query: str) -> str:
    if not _TRACKING_HINT.search(query):
        return query  # keep the link byte-for-byte when there is nothing to drop
    kept = [pair for pair in query.split("&") if pair and not _is_tracking(pair.partition("=")[0])]
    return "&".join(kept)


def _https(parsed: _Url, path: str, query: str) -> str:
    """The clickable form: https, lower-case host, tracking dropped, fragment dropped."""
    query = _without_tracking(query)
    return "https://" + parsed.host + path + ("?" + query if query else "")


def _segments(path: str) -> list[str]:
    return [segment for segment in path.split("/") if segment]


def _is_domain(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def _generic_key(parsed: _Url) -> str:
    host = parsed.host.removeprefix("www.")
    if parsed.port and parsed.port not in (80, 443):
        host += f":{parsed.port}"
    params = sorted(
        pair
        for pair in parsed.query.split("&")
        if pair and not _is_tracking(pair.partition("=")[0]) and pair.partition("=")[0].lower() not in _PASSCODE_PARAMS
    )
    path = parsed.path.rstrip("/")
    return "https://" + host + path + ("?" + "&".join(params) if params else "")


def _is_digits(value: str, shortest: int = 1, longest: int = 20) -> bool:
    return value.isascii() and value.isdigit() and shortest <= len(value) <= longest


def _is_name(value: str) -> bool:
    """A room / personal-link name: letters, digits and a little punctuation."""
    return bool(value) and value.isascii() and value.replace("-", "").replace("_", "").replace(".", "").isalnum()


# ---------------------------------------------------------------------------
# Platforms. Each takes a parsed URL on its domains and returns a candidate
# only when the path has the shape of a join link.
# ---------------------------------------------------------------------------

_ZOOM_NON_MEETING_HOSTS = frozenset(
    {
        "support.zoom.us",
        "support.zoom.com",
        "community.zoom.com",
        "explore.zoom.us",
        "blog.zoom.us",
        "status.zoom.us",
        "marketplace.zoom.us",
        "developers.zoom.us",
        "www.zoom.com",
    }
)


def _zoom(parsed: _Url) -> _Candidate | None:
    if parsed.host in _ZOOM_NON_MEETING_HOSTS:
        return None
    cloud = "zoomgov.com" if _is_domain(parsed.host, "zoomgov.com") else "zoom.us"
    segments = _segments(parsed.path)
    lowered = [segment.lower() for segment in segments]
    if parsed.scheme in ("zoommtg", "zoomus"):
        return _zoom_from_client_link(parsed, cloud)
    meeting_id = None
    if len(segments) == 2 and lowered[0] in ("j", "s", "w"):
        meeting_id = segments[1]
    elif len(segments) == 3 and lowered[:2] == ["wc", "join"]:
        meeting_id = segments[2]
    elif len(segments) == 3 and lowered[0] == "wc" and lowered[2] in ("join", "start"):
        meeting_id = segments[1]
    elif lowered == ["join"]:
        meeting_id = _param(parsed.query, "confno")
    elif len(segments) == 2 and lowered[0] == "my" and _is_name(segments[1]):
        key = f"https://{cloud}/my/{lowered[1]}"
        return _Candidate("zoom", _https(parsed, parsed.path, parsed.query), key, _zoom_credentials(parsed), True)
    if not meeting_id or not _is_digits(meeting_id, 5, 13):
        return None
    key = f"https://{cloud}/j/{meeting_id}"
    # Zoom ids have 9-11 digits; fewer means the link was cut (a wrapped line,
    # a 255-character preview), more means digits from the next line ran on.
    complete = 9 <= len(meeting_id) <= 11
    url = _https(parsed, parsed.path, parsed.query)
    return _Candidate("zoom", url, key, _zoom_credentials(parsed), complete, complete)


def _zoom_credentials(parsed: _Url) -> int:
    return sum(1 for name in ("pwd", "tk") if _param(parsed.query, name))


def _zoom_from_client_link(parsed: _Url, cloud: str) -> _Candidate | None:
    """zoommtg://zoom.us/join?confno=...&pwd=... opens the desktop client; give the web link."""
    meeting_id = _param(parsed.query, "confno")
    if not meeting_id or not _is_digits(meeting_id, 5, 13):
        return None
    password = _param(parsed.query, "pwd")
    url = f"https://{parsed.host}/j/{meeting_id}" + (f"?pwd={password}" if password else "")
    complete = 9 <= len(meeting_id) <= 11
    return _Candidate("zoom", url, f"https://{cloud}/j/{meeting_id}", 1 if password else 0, complete, complete)


def _meet_code(code: str) -> str | None:
    """Meet codes are xxx-yyyy-zzz (letters); the undashed form also works."""
    code = code.lower()
    if not code.isascii():
        return None
    parts = code.split("-")
    if [len(part) for part in parts] == [3, 4, 3] and all(part.isalpha() for part in parts):
        return code
    if len(code) == 10 and code.isalpha():
        return f"{code[:3]}-{code[3:7]}-{code[7:]}"
    return None


def _meet(parsed: _Url) -> _Candidate | None:
    segments = _segments(parsed.path)
    if parsed.host == "meet.google.com":
        # One segment only: /lookup/<name>, /_meet/... and friends are not meetings.
        code = _meet_code(segments[0]) if len(segments) == 1 else None
        if not code:
            return None
        return _Candidate("meet", _https(parsed, parsed.path, parsed.query), f"https://meet.google.com/{code}", 0, True)
    if parsed.host == "hangouts.google.com" and len(segments) >= 3 and segments[:2] == ["hangouts", "_"]:
        key = "https://hangouts.google.com" + parsed.path.rstrip("/").lower()
        return _Candidate("meet", _https(parsed, parsed.path, parsed.query), key, 0, True)
    return None


def _teams(parsed: _Url) -> _Candidate | None:
    route = _teams_route(parsed)
    if route is None:
        return None
    path, query = route
    segments = _segments(path)
    lowered = [segment.lower() for segment in segments]
    cloud = "teams.microsoft.com" if parsed.host == "teams.cloud.microsoft" else parsed.host
    if len(segments) >= 3 and lowered[:2] == ["l", "meetup-join"]:
        thread = _fully_unquoted(segments[2])
        message = segments[3] if len(segments) > 3 else "0"
        context = _param(query, "context")
        # A cut-off context still opens the meeting; a cut-off thread id does not.
        has_thread = "@thread" in thread
        complete = has_thread and (context is None or context.rstrip().endswith("}"))
        credentials = 1 if context and "tid" in context.lower() else 0
        key = f"https://{cloud}/l/meetup-join/{thread}/{message}"
        return _Candidate("teams", _https(parsed, path, query), key, credentials, complete, has_thread)
    meet_at = 1 if lowered[:1] == ["meet"] else 2 if lowered[:2] == ["l", "meet"] else 0
    if meet_at and len(segments) == meet_at + 1 and _is_name(segments[meet_at]):
        key = f"https://{cloud}/meet/{segments[meet_at]}"
        credentials = 1 if _param(query, "p") else 0
        return _Candidate("teams", _https(parsed, path, query), key, credentials, True)
    return None


def _teams_route(parsed: _Url) -> tuple[str, str] | None:
    """The in-app route (path, query) of a Teams link: plain, in the fragment
    (/_#/l/meetup-join/...), or inside the launcher page's url parameter."""
    if parsed.fragment.startswith("/l/"):
        path, _, query = parsed.fragment.partition("?")
        return path, query
    if parsed.path.lower().startswith("/dl/launcher/"):
        inner = _param(parsed.query, "url")
        if not inner:
            return None
        inner = inner.removeprefix("/_#").removeprefix("/_")
        path, _, query = inner.partition("?")
        return path, query
    return parsed.path, parsed.query


def _fully_unquoted(value: str) -> str:
    for _ in range(3):  # links pasted through several encoders get encoded twice
        if "%" not in value:
            break
        value = unquote(value)
    return value


_WEBEX_NON_MEETING_HOSTS = frozenset(
    {"help.webex.com", "www.webex.com", "webex.com", "status.webex.com", "developer.webex.com", "blog.webex.com"}
)
_WEBEX_NON_JOIN_PAGES = frozenset(
    {
        "ldr.php",
        "lsr.php",
        "globalcallin.php",
        "nbrshared.do",
        "recording",
        "recordings",
        "register",
        "registration",
        "playback",
    }
)


def _webex(parsed: _Url) -> _Candidate | None:
    if parsed.host in _WEBEX_NON_MEETING_HOSTS:
        return None
    segments = _segments(parsed.path)
    lowered = [segment.lower() for segment in segments]
    url = _https(parsed, parsed.path, parsed.query)
    # Personal rooms: /meet/<name>, /join/<name>, optionally under a /<site>/ prefix.
    # Checked first: a room may be called anything, even "recording".
    if len(segments) in (2, 3) and lowered[-2] in ("meet", "join") and _is_name(segments[-1]):
        return _Candidate("webex", url, f"https://{parsed.host}/meet/{lowered[-1]}", 0, True)
    if any(segment in _WEBEX_NON_JOIN_PAGES for segment in lowered):
        return None
    meeting_token = _param(parsed.query, "MTID")
    if meeting_token:
        return _Candidate("webex", url, f"https://{parsed.host}/?MTID={meeting_token}", 0, True)
    if "joinservice" in lowered or lowered[-3:-1] == ["meeting", "info"]:
        return _Candidate("webex", url, f"https://{parsed.host}/{lowered[-1]}", 0, True)
    return None


_GOTO_RESERVED = frozenset(
    {"install", "download", "join", "login", "signin", "support", "help", "app", "settings", "test"}
)


def _goto(parsed: _Url) -> _Candidate | None:
    host = parsed.host
    segments = _segments(parsed.path)
    lowered = [segment.lower() for segment in segments]
    meeting = None
    if host == "meet.goto.com":
        if len(segments) == 1 and lowered[0] not in _GOTO_RESERVED:
            meeting = segments[0]
        elif len(segments) == 2 and lowered[0] == "join":
            meeting = segments[1]
    elif host in ("global.gotomeeting.com", "www.gotomeeting.com", "gotomeeting.com", "meet.gotomeeting.com"):
        if len(segments) == 2 and lowered[0] == "join":
            meeting = segments[1]
    elif host == "app.goto.com":
        if len(segments) >= 2 and lowered[0] == "meeting":
            meeting = segments[1]
    elif host == "app.gotomeeting.com":
        meeting = _param(parsed.query, "meetingId")
    elif _is_domain(host, "gotomeet.me"):
        if len(segments) == 1:
            meeting = segments[0]
    elif _is_domain(host, "gotowebinar.com"):
        if len(segments) >= 2 and lowered[0] == "join":
            key = "https://global.gotowebinar.com/join/" + "/".join(segments[1:])
            return _Candidate("goto", _https(parsed, parsed.path, parsed.query), key, 0, True)
    if not meeting or not _is_name(meeting):
        return None
    return _Candidate(
        "goto", _https(parsed, parsed.path, parsed.query), f"https://meet.goto.com/{meeting.lower()}", 0, True
    )


_CHIME_RESERVED = frozenset({"download", "dialinnumbers", "help", "join", "meetings", "support", "test"})


def _chime(parsed: _Url) -> _Candidate | None:
    segments = _segments(parsed.path)
    lowered = [segment.lower() for segment in segments]
    meeting = None
    if parsed.host == "chime.aws" and len(segments) == 1 and lowered[0] not in _CHIME_RESERVED:
        meeting = segments[0]
    elif parsed.host == "app.chime.aws" and lowered[:1] == ["meetings"]:
        meeting = _param(parsed.query, "pin") or (segments[1] if len(segments) == 2 else None)
    if not meeting or not meeting.isascii() or not meeting.isalnum():
        return None
    return _Candidate(
        "chime", _https(parsed, parsed.path, parsed.query), f"https://chime.aws/{meeting.lower()}", 0, True
    )


_WHEREBY_NON_ROOM_HOSTS = frozenset(
    {
        "docs.whereby.com",
        "help.whereby.com",
        "blog.whereby.com",
        "status.whereby.com",
        "api.whereby.com",
        "embed.whereby.com",
    }
)
_WHEREBY_SITE_PAGES = frozenset(
    {
        "information", "user", "org", "pricing", "login", "signup", "sign-up", "download", "about",
        "blog", "legal", "privacy", "terms", "support", "help", "embed", "features", "products",
        "business", "careers", "contact", "jobs", "integrations", "information-for-participants", "test",
    }
)  # fmt: skip


def _whereby(parsed: _Url) -> _Candidate | None:
    if parsed.host in _WHEREBY_NON_ROOM_HOSTS:
        return None
    segments = _segments(parsed.path)
    if len(segments) != 1 or segments[0].lower() in _WHEREBY_SITE_PAGES or not _is_name(segments[0]):
        return None
    if "." in segments[0]:  # files such as robots.txt, not rooms
        return None
    host = parsed.host.removeprefix("www.")
    credentials = 1 if _param(parsed.query, "roomKey") else 0
    return _Candidate(
        "whereby", _https(parsed, parsed.path, parsed.query), f"https://{host}/{segments[0].lower()}", credentials, True
    )


_JITSI_NON_ROOMS = frozenset(
    {
        "static",
        "libs",
        "sounds",
        "images",
        "fonts",
        "lang",
        "css",
        "http-bind",
        "xmpp-websocket",
        "colibri-ws",
        "config",
        "test",
    }
)


# Room depth per host: meet.jit.si/<room>, 8x8.vc/<room> or 8x8.vc/<tenant>/<room>.
_JITSI_ROOM_DEPTHS = {"meet.jit.si": (1,), "8x8.vc": (1, 2)}


def _jitsi(parsed: _Url) -> _Candidate | None:
    segments = _segments(parsed.path)
    if len(segments) not in _JITSI_ROOM_DEPTHS.get(parsed.host, ()):
        return None
    if segments[0].lower() in _JITSI_NON_ROOMS or any("." in segment for segment in segments):
        return None  # static pages and files, not rooms
    key = f"https://{parsed.host}/" + "/".join(segment.lower() for segment in segments)
    return _Candidate("jitsi", _https(parsed, parsed.path, parsed.query), key, 0, True)


_OTHER_RESERVED = frozenset({"download", "downloads", "support", "help", "login", "signin", "pricing", "about", "test"})


def _other(parsed: _Url) -> _Candidate | None:
    """Platforms we recognise but do not single out: BlueJeans, Around, Skype and Skype for
    Business, RingCentral, Dialpad / UberConference."""
    host = parsed.host
    segments = _segments(parsed.path)
    lowered = [segment.lower() for segment in segments]
    if not segments or lowered[0] in _OTHER_RESERVED:
        return None
    key = None
    if _is_domain(host, "bluejeans.com") and not host.startswith(("support.", "help.", "status.")):
        if _is_digits(segments[0], 4):
            key = f"https://bluejeans.com/{segments[0]}"
    elif host in ("around.co", "www.around.co", "meet.around.co"):
        if len(segments) == 2 and lowered[0] == "r":
            key = f"https://around.co/r/{lowered[1]}"
    elif _is_domain(host, "lync.com") and host.split(".")[0].startswith("meet"):
        if len(segments) >= 2:
            key = f"https://{host}/" + "/".join(lowered)
    elif host == "join.skype.com":
        if len(segments) == 1:
            key = f"https://join.skype.com/{segments[0]}"
    elif host in ("meetings.ringcentral.com", "v.ringcentral.com", "video.ringcentral.com"):
        if len(segments) == 2 and lowered[0] in ("j", "join"):
            key = f"https://v.ringcentral.com/join/{segments[1]}"
    elif host == "meetings.dialpad.com" or host in ("uberconference.com", "www.uberconference.com"):
        if len(segments) <= 2:
            key = f"https://{host.removeprefix('www.')}/" + "/".join(lowered)
    if key is None:
        return None
    return _Candidate("other", _https(parsed, parsed.path, parsed.query), key, 0, True)


_CLASSIFIERS: dict[str, Callable[[_Url], _Candidate | None]] = {
    "zoom.us": _zoom,
    "zoom.com": _zoom,
    "zoomgov.com": _zoom,
    "meet.google.com": _meet,
    "hangouts.google.com": _meet,
    "teams.microsoft.com": _teams,
    "teams.live.com": _teams,
    "teams.cloud.microsoft": _teams,
    "teams.microsoft.us": _teams,
    "webex.com": _webex,
    "webexgov.us": _webex,
    "goto.com": _goto,
    "gotomeeting.com": _goto,
    "gotomeet.me": _goto,
    "gotowebinar.com": _goto,
    "chime.aws": _chime,
    "whereby.com": _whereby,
    "meet.jit.si": _jitsi,
    "8x8.vc": _jitsi,
    "bluejeans.com": _other,
    "around.co": _other,
    "lync.com": _other,
    "skype.com": _other,
    "ringcentral.com": _other,
    "dialpad.com": _other,
    "uberconference.com": _other,
}
# Substrings that mark a host as pretending to be a platform when it is not on
# the allow-list (specific enough not to catch ordinary words).
_KNOWN_BRANDS = (
    "zoom", "google", "microsoft", "teams.", "webex", "gotomeet", "goto.com", "chime.aws",
    "whereby", "jit.si", "8x8", "bluejeans", "skype", "lync", "ringcentral", "dialpad", "around.co",
)  # fmt: skip


_CLASSIFIER_CACHE: dict[str, Callable[[_Url], _Candidate | None] | None] = {}
_CLASSIFIER_CACHE_SIZE = 4096


def _classifier_for_host(host: str) -> Callable[[_Url], _Candidate | None] | None:
    """The platform whose domain `host` is, or is a real subdomain of.

    Walking label suffixes (a.b.zoom.us -> b.zoom.us -> zoom.us) means
    "evilzoom.us" and "zoom.us.evil.example" never match. Memoised: the same
    few hosts come up in event after event.
    """
    try:
        return _CLASSIFIER_CACHE[host]
    except KeyError:
        pass
    classifier = None
    labels = host.split(".")
    if len(labels) <= 12:
        for index in range(len(labels) - 1):
            classifier = _CLASSIFIERS.get(".".join(labels[index:]))
            if classifier is not None:
                break
    if len(_CLASSIFIER_CACHE) >= _CLASSIFIER_CACHE_SIZE:
        _CLASSIFIER_CACHE.clear()  # bounded: hostile input cannot grow it without limit
    _CLASSIFIER_CACHE[host] = classifier
    return classifier


def _looks_like_impersonation(parsed: _Url, url: str) -> bool:
    """Even a trusted conference field should not hand out zoom.us.evil.example,
    zoom.us@evil.example, evil.example/zoom.us/j/1 or a homoglyph host."""
    host = parsed.host
    if not host.isascii() or "xn--" in host or "@" in url.partition("://")[2].split("/", 1)[0]:
        return True
    lowered = url.lower()
    return any(brand in host for brand in _KNOWN_BRANDS) or any(domain in lowered for domain in _CLASSIFIERS)


# ---------------------------------------------------------------------------
# normalize_join_url
# ---------------------------------------------------------------------------


def _normalize(url: Any) -> str:
    if not isinstance(url, str):
        return ""
    token = url.strip()[:MAX_URL_LENGTH]
    if not token:
        return ""
    if "://" not in token:
        token = "https://" + token.lstrip("/")
    candidate = _classify(token, trusted=True)
    if candidate is not None:
        return candidate.key
    cleaned = _clean_token(token)
    for _ in range(MAX_UNWRAP_DEPTH):
        parsed = _parse(cleaned)
        inner = _redirect_target(parsed, cleaned) if parsed else None
        if inner is None:
            break
        cleaned = _clean_token(inner if "://" in inner else "https://" + inner)
    parsed = _parse(cleaned)
    return _generic_key(parsed) if parsed else url.strip()
