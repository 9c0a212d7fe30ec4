"""The LTI pages as HTML: the launched guide, the deep-linking picker, the form that posts back to the platform, and refusals.

Every value from a launch or the course is escaped (markupsafe); the pages carry no cookie and use no browser storage."""
from __future__ import annotations

from markupsafe import Markup, escape

_STYLE = """
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;padding:1.25rem 1.5rem;color:#1f2330;background:#fff}
h1{font-size:1.3rem;margin:0 0 .25rem}p.sub{margin:0 0 1rem;color:#4a5065}
.refused{border-left:4px solid #b42318;padding:.5rem 1rem;background:#fef3f2}
.refused h1{color:#b42318}code{background:#f2f4f7;padding:0 .25rem;border-radius:3px}
ul.choices{list-style:none;padding:0}ul.choices li{margin:.4rem 0}
ul.choices button{font:inherit;padding:.45rem .8rem;border:1px solid #4f46e5;border-radius:6px;background:#eef2ff;color:#312e81;cursor:pointer;min-width:22rem;text-align:left}
ul.choices small{color:#4a5065}ul.choices button:hover,ul.choices button:focus{background:#e0e7ff;outline:2px solid #4f46e5}
@media (prefers-color-scheme: dark){body{background:#14161c;color:#e6e8ee}p.sub{color:#a8aec0}.refused{background:#2a1614}
ul.choices button{background:#1e1b4b;color:#e0e7ff}}
"""


def _page(title: str, body: Markup | str, script: Markup | str = "") -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<meta name="referrer" content="no-referrer"><title>{escape(title)}</title><style>{_STYLE}</style></head>'
            f"<body>{body}{script}</body></html>")


def refusal_page(kind: str, title: str, detail: str) -> str:
    """A refused login or launch: what happened and what to tell the instructor, with the reason's name to quote."""
    body = Markup(
        '<main class="refused" data-refusal="{kind}"><h1>{title}</h1><p>{detail}</p>'
        "<p>Tell your instructor: Course Guide refused this launch with reason <code>{kind}</code>.</p></main>"
    ).format(kind=kind, title=title, detail=detail)
    return _page(f"Course Guide: {title}", body)


def guide_page(*, course: str, lesson_title: str | None, lesson: str | None, launch_token: str, widget_url: str,
               course_id: str | None = None) -> str:
    """The launched guide: a heading and the widget, opened, acting for the launch (the token goes with every API call);
    `course_id`: the registered course the launch is into (its widget calls /c/NAME/api)."""
    heading = lesson_title or course
    sub = f"Course Guide for {course}" + (": this lesson's questions and quiz." if lesson_title else ": the whole course.")
    body = Markup('<main><h1 id="cg-title">{heading}</h1><p class="sub">{sub}</p></main>').format(heading=heading, sub=sub)
    script = Markup('<script src="{src}" data-launch="{token}" data-open="true"{lesson}{course} defer></script>').format(
        src=widget_url, token=launch_token, lesson=Markup(' data-lesson="{0}"').format(lesson) if lesson else "",
        course=Markup(' data-course="{0}"').format(course_id) if course_id else "")
    return _page(f"Course Guide: {heading}", body, script)


def picker_page(*, course: str, lessons: list[tuple[str, str]], deep_link_token: str, action: str) -> str:
    """The deep-linking picker: the whole course, or one lesson; the choice posts back to the tool, which answers the platform."""
    items = [Markup('<li><button type="submit" name="lesson" value="">Whole course: {0}</button></li>').format(course)]
    items += [Markup('<li><button type="submit" name="lesson" value="{source}">{title} <small>({source})</small></button></li>')
              .format(source=source, title=title) for source, title in lessons]
    body = Markup(
        '<main><h1>Add Course Guide to your course</h1><p class="sub">Choose what the link opens: the guide for the whole course, '
        'or for one lesson (its questions and quiz).</p><form method="post" action="{action}">'
        '<input type="hidden" name="token" value="{token}"><ul class="choices">{items}</ul></form></main>'
    ).format(action=action, token=deep_link_token, items=Markup("").join(items))
    return _page("Course Guide: choose a link", body)


def auto_post_page(action: str, fields: dict[str, str], what: str) -> str:
    """A form that posts `fields` to `action` by itself (the OIDC and deep-linking form_post), with a button if scripts are off."""
    inputs = Markup("").join(Markup('<input type="hidden" name="{0}" value="{1}">').format(name, value) for name, value in fields.items())
    body = Markup('<main><form id="cg-post" method="post" action="{action}">{inputs}<p>{what}</p>'
                  '<button type="submit">Continue</button></form></main>').format(action=action, inputs=inputs, what=what)
    return _page("Course Guide", body, Markup("<script>document.getElementById('cg-post').submit();</script>"))
