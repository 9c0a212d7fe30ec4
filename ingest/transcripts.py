"""Lecture transcripts (.vtt with webvtt-py, .srt with srt): cues grouped into timed passages, cited "at 12:34", linked to the video.

A transcript names its video in a YAML sidecar beside it with the same stem: `lecture-03.vtt` and `lecture-03.yaml`
holding `video: https://www.youtube.com/watch?v=...` (and optionally `title: ...`)."""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from core.markup import Section
from ingest.errors import BadFileError

SIDECAR_SUFFIXES = (".yaml", ".yml")
TRANSCRIPT_SUFFIXES = (".vtt", ".srt")
# A passage closes once it holds this many sentences, or this many words if the speaker never stops.
PASSAGE_SENTENCES = 3
PASSAGE_MAX_WORDS = 120
# A pause this long between cues (a cut in the recording, a new topic) starts a new passage.
PASSAGE_GAP_SECONDS = 20.0
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*$")


@dataclass(frozen=True)
class Passage:
    start: float  # seconds from the start of the video
    text: str

    @property
    def seconds(self) -> int:
        return int(self.start)

    @property
    def anchor(self) -> str:
        return f"t-{self.seconds}"

    @property
    def label(self) -> str:
        return f"at {clock(self.seconds)}"


@dataclass(frozen=True)
class Transcript:
    title: str | None  # from the sidecar
    video: str | None  # the lecture video's URL, from the sidecar
    passages: tuple[Passage, ...]

    def video_link(self, passage: Passage) -> str | None:
        return video_at(self.video, passage.seconds) if self.video else None


def clock(seconds: int) -> str:
    """754 -> '12:34'; 3754 -> '1:02:34'."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def video_at(url: str, seconds: int) -> str:
    """The video URL that starts playing at `seconds`: YouTube's t parameter, else a media fragment (#t=754)."""
    parts = urlsplit(url)
    host = parts.netloc.lower().removeprefix("www.").removeprefix("m.")
    if host in ("youtube.com", "youtu.be", "youtube-nocookie.com"):
        embed = parts.path.startswith("/embed/")
        query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("t", "start")]
        query.append(("start", str(seconds)) if embed else ("t", f"{seconds}s" if host == "youtube.com" else str(seconds)))
        return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, f"t={seconds}"))


def sidecar_of(path: Path) -> Path | None:
    """The YAML file beside a transcript that names its video, if there is one."""
    for suffix in SIDECAR_SUFFIXES:
        candidate = path.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def is_sidecar(path: Path) -> bool:
    """A YAML file that belongs to a transcript beside it (not a lesson, not a stray file)."""
    return path.suffix.lower() in SIDECAR_SUFFIXES and any(path.with_suffix(s).is_file() for s in TRANSCRIPT_SUFFIXES)


def _read_sidecar(path: Path) -> tuple[str | None, str | None]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        problem = " ".join(str(err).split())
        raise BadFileError(f"has a sidecar {path.name} that is not valid YAML ({problem}); fix it or remove it") from None
    if not isinstance(data, dict):
        raise BadFileError(f"has a sidecar {path.name} that is not a YAML mapping; write it as 'video: URL' lines")
    video = data.get("video")
    if video is not None and not re.match(r"https?://\S+$", str(video)):
        raise BadFileError(f"has a sidecar {path.name} whose video {video!r} is not an http(s) URL; give the video's full address")
    title = data.get("title")
    return (str(title).strip() or None) if title else None, str(video) if video else None


def _cues(path: Path, text: str) -> list[tuple[float, float, str]]:
    """(start, end, text) of every cue, parsed strictly so a broken timestamp is an error, not a lost cue."""
    if path.suffix.lower() == ".srt":
        import srt

        try:
            subtitles = list(srt.parse(text))
        except srt.SRTParseError as err:
            bad = text[err.actual_start : err.actual_start + 60].strip().splitlines()
            near = f" near {bad[0]!r}" if bad else ""
            raise BadFileError(
                f"is not a readable SubRip transcript (broken cue{near}); write each time as 'HH:MM:SS,mmm --> HH:MM:SS,mmm'"
            ) from None
        for subtitle in subtitles:
            # srt folds a cue whose timing line it cannot read into the cue before it: find that line.
            broken = next((line for line in subtitle.content.splitlines() if "-->" in line), None)
            if broken:
                raise BadFileError(
                    f"has a broken cue timestamp ({broken.strip()!r}); write each time as 'HH:MM:SS,mmm --> HH:MM:SS,mmm'"
                )
        return [(s.start.total_seconds(), s.end.total_seconds(), s.content) for s in subtitles]
    import webvtt
    from webvtt.errors import MalformedCaptionError, MalformedFileError

    try:
        captions = webvtt.from_string(text, strict=True).captions
    except MalformedFileError:
        raise BadFileError("is not a WebVTT transcript (it does not start with 'WEBVTT'); add that first line or re-export it") from None
    except MalformedCaptionError as err:
        raise BadFileError(
            f"has a broken cue timestamp ({' '.join(str(err).split())}); write each time as 'HH:MM:SS.mmm --> HH:MM:SS.mmm'"
        ) from None
    return [(_vtt_seconds(c.start), _vtt_seconds(c.end), c.text) for c in captions]


def _vtt_seconds(stamp: str) -> float:
    """'01:02:03.450' or '02:03.450' -> seconds, milliseconds kept."""
    seconds = 0.0
    for part in stamp.split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def _passages(cues: list[tuple[float, float, str]]) -> tuple[Passage, ...]:
    passages: list[Passage] = []
    start: float | None = None
    words: list[str] = []
    sentences = 0
    last_end = 0.0
    for cue_start, cue_end, text in cues:
        cue_words = text.split()
        if not cue_words:
            continue
        if words and start is not None and cue_start - last_end > PASSAGE_GAP_SECONDS:
            passages.append(Passage(start, " ".join(words)))
            start, words, sentences = None, [], 0
        last_end = cue_end
        if start is None:
            start = cue_start
        words.extend(cue_words)
        sentences += sum(bool(_SENTENCE_END.search(w)) for w in cue_words)
        ends_sentence = bool(_SENTENCE_END.search(words[-1]))
        if (sentences >= PASSAGE_SENTENCES and ends_sentence) or len(words) >= PASSAGE_MAX_WORDS:
            passages.append(Passage(start, " ".join(words)))
            start, words, sentences = None, [], 0
    if words and start is not None:
        passages.append(Passage(start, " ".join(words)))
    return tuple(passages)


def read_transcript(path: Path, text: str) -> Transcript:
    """The timed passages of a transcript and what its sidecar says; BadFileError for broken timestamps."""
    cues = _cues(path, text)
    for cue_start, cue_end, _ in cues:
        if cue_end < cue_start:
            raise BadFileError(
                f"has a cue that ends before it starts ({clock(int(cue_start))} to {clock(int(cue_end))}); fix its timestamps"
            )
    passages = _passages(cues)
    if not passages:
        raise BadFileError("has no cues with text; add the transcript's cues or remove the file")
    sidecar = sidecar_of(path)
    title, video = _read_sidecar(sidecar) if sidecar else (None, None)
    return Transcript(title, video, passages)


def transcript_sections(transcript: Transcript, title: str) -> list[Section]:
    """One section per passage: cited as "<title> at 12:34", opening the video there when the transcript names one."""
    sections: list[Section] = []
    seen: set[str] = set()
    for passage in transcript.passages:
        anchor = passage.anchor
        if anchor in seen:
            anchor = f"{anchor}-{sum(a.startswith(anchor) for a in seen)}"
        seen.add(anchor)
        sections.append(Section((title,), anchor, passage.text, label=passage.label, url=transcript.video_link(passage)))
    return sections


def render_transcript(transcript: Transcript, title: str) -> str:
    """Lesson HTML: the passages with their times, each with the id its citations use, and links into the video."""
    sections = transcript_sections(transcript, title)
    out = [f"<h1>{html.escape(title)}</h1>"]
    if transcript.video:
        out.append(f'<p><a href="{html.escape(transcript.video)}">Watch the lecture video</a></p>')
    for passage, section in zip(transcript.passages, sections):
        time = clock(passage.seconds)
        stamp = f'<a href="{html.escape(section.url)}">{time}</a>' if section.url else time
        out.append(
            f'<section class="cue" id="{section.anchor}" data-cite><span class="cue-time">{stamp}</span>'
            f"<p>{html.escape(passage.text)}</p></section>"
        )
    return "\n".join(out)
