/* Course Guide widget: one <script src="https://GUIDE/widget.js" data-lesson="..." defer> tag adds a chat button and
   panel (data-course="NAME" picks a registered course of a guide that serves several), in a Shadow DOM, that streams answers from the guide's /api/ask/stream and links every citation.
   Answer and source text only ever reaches the page through textContent, never as HTML.
   Each answer has Helpful / Not helpful buttons (words, no emoji) that post to /api/feedback; the learner is an opaque
   random id kept in localStorage (in memory where storage is blocked), never a name.
   Launched from a course platform (LTI), the page gives data-launch: a signed launch token sent with every call as the
   X-Course-Guide-Launch header; the server then knows the learner, and the widget uses no storage at all. */
(() => {
  "use strict";
  const script = document.currentScript;
  if (!script || window.courseGuideWidget) return;
  const origin = new URL(script.src, location.href).origin;
  // data-course names a registered course of a many-course guide: its calls and links go to that course's /c/NAME/.
  const course = script.dataset.course || null;
  const guide = course ? `${origin}/c/${encodeURIComponent(course)}` : origin;
  const withCourse = (body) => course ? { ...body, course } : body;
  const lesson = script.dataset.lesson || null;
  const launch = script.dataset.launch || null; // an LTI launch: the page's own token, no cookies, no storage
  const inline = script.dataset.open === "true";
  const headers = (extra = {}) => launch ? { ...extra, "X-Course-Guide-Launch": launch } : extra;
  const storeKey = "course-guide:" + guide;
  const MAX_TURNS = 20;
  const RECORDING = true; // the guide's COURSE_GUIDE_RECORD_INTERACTIONS, written in when it serves this file
  const PRIVACY = "Questions are recorded anonymously to improve the course.";

  const randomId = () => {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  };
  // One random id per browser and guide, so the course team can tell questions apart without knowing who asked.
  // (per guide, not per course: one learner across a school's courses, whose records the guide keeps per course)
  const learnerKey = "course-guide:learner:" + origin;
  const LEARNER_ID = /^[A-Za-z0-9_-]{16,64}$/;
  let learner = (() => {
    if (launch) return "launch"; // the server reads the learner from the launch token
    try {
      const kept = window.localStorage.getItem(learnerKey);
      if (kept && LEARNER_ID.test(kept)) return kept;
      const made = randomId();
      window.localStorage.setItem(learnerKey, made);
      return made;
    } catch (e) {
      return randomId(); /* storage blocked: the id lives as long as this page */
    }
  })();
  // The chat knows this browser by the guide's own cookie. On a page of the same site the browser sends it with this
  // call and the widget takes the chat's id, so both show one progress; elsewhere the cookie is blocked and the id stays.
  const learnerReady = !RECORDING || launch ? Promise.resolve() : fetch(guide + "/api/learner", {
    method: "POST", credentials: "include", headers: { "Content-Type": "application/json" }, body: JSON.stringify(withCourse({ learner })),
  }).then((r) => (r.ok ? r.json() : null)).then((data) => {
    if (data && LEARNER_ID.test(data.learner || "") && data.learner !== learner) {
      learner = data.learner;
      try { window.localStorage.setItem(learnerKey, learner); } catch (e) { /* storage blocked: this page keeps it */ }
    }
  }).catch(() => { /* guide unreachable: the widget's own id stays, and the first question says what is wrong */ });

  // sessionStorage keeps the conversation across pages of the course; some browsers block it in some contexts.
  const storage = (() => {
    if (launch) return null;
    try {
      const s = window.sessionStorage;
      s.setItem(storeKey + ":probe", "1");
      s.removeItem(storeKey + ":probe");
      return s;
    } catch (e) {
      return null;
    }
  })();
  let turns = [];
  try {
    turns = JSON.parse((storage && storage.getItem(storeKey)) || "[]");
    if (!Array.isArray(turns)) turns = [];
  } catch (e) {
    turns = [];
  }
  const save = () => {
    try {
      if (storage) storage.setItem(storeKey, JSON.stringify(turns.slice(-MAX_TURNS)));
    } catch (e) {
      /* storage full or blocked: the conversation still lives on this page */
    }
  };

  const CSS = `
:host { all: initial; }
* { box-sizing: border-box; }
.root { --bg: #fff; --fg: #1f2937; --muted: #6b7280; --line: #e5e7eb; --accent: #4f46e5; --on-accent: #fff;
  --me: #eef2ff; --warn: #b45309; --err: #b91c1c;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); }
@media (prefers-color-scheme: dark) {
  .root { --bg: #111827; --fg: #e5e7eb; --muted: #9ca3af; --line: #374151; --accent: #a5b4fc; --on-accent: #111827;
    --me: #1e1b4b; --warn: #fbbf24; --err: #fca5a5; }
}
.launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; border: 0; border-radius: 999px;
  padding: 12px 18px; background: var(--accent); color: var(--on-accent); font: 600 15px/1 system-ui, sans-serif;
  box-shadow: 0 6px 20px #0003; cursor: pointer; }
.launcher:focus-visible, button:focus-visible, textarea:focus-visible, a:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.panel { position: fixed; right: 20px; bottom: 80px; z-index: 2147483001; width: 380px; height: min(560px, calc(100vh - 100px));
  display: flex; flex-direction: column; background: var(--bg); color: var(--fg); border: 1px solid var(--line);
  border-radius: 14px; box-shadow: 0 12px 40px #0004; overflow: hidden; }
.panel[hidden] { display: none; }
header { display: flex; align-items: center; gap: 8px; padding: 10px 12px; border-bottom: 1px solid var(--line); }
header h2 { flex: 1; margin: 0; font-size: 16px; }
header button { background: none; border: 0; color: var(--muted); font: inherit; cursor: pointer; padding: 4px 8px; border-radius: 6px; }
header button:hover { color: var(--fg); }
.log { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 10px; }
.msg { max-width: 92%; padding: 8px 11px; border-radius: 12px; white-space: pre-wrap; overflow-wrap: anywhere; }
.me { align-self: flex-end; background: var(--me); }
.bot { align-self: flex-start; border: 1px solid var(--line); }
.bot p { margin: 0 0 6px; } .bot ul, .bot ol { margin: 4px 0 6px; padding-left: 20px; white-space: normal; }
.bot h3 { margin: 8px 0 2px; font-size: 13px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
a { color: var(--accent); }
.hint { color: var(--muted); font-size: 14px; }
.notice { color: var(--warn); font-size: 14px; }
.error { color: var(--err); align-self: stretch; font-size: 14px; }
.privacy { color: var(--muted); font-size: 12.5px; margin: 0; padding: 0 12px 6px; }
.vote { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin-top: 6px; font-size: 13px; white-space: normal; }
.vote button { border: 1px solid var(--line); background: var(--bg); color: var(--fg); border-radius: 999px; padding: 2px 10px;
  font: 13px system-ui, sans-serif; cursor: pointer; display: inline-flex; gap: 4px; align-items: center; }
.vote button[aria-pressed="true"] { border-color: var(--accent); color: var(--accent); font-weight: 600; }
.vote svg { width: 14px; height: 14px; fill: none; stroke: currentColor; stroke-width: 2; stroke-linecap: round; stroke-linejoin: round; }
.vote input { flex: 1; min-width: 140px; border: 1px solid var(--line); border-radius: 8px; padding: 3px 8px; font: 13px system-ui, sans-serif;
  background: var(--bg); color: var(--fg); }
.vote .thanks { color: var(--muted); }
.vote[hidden] { display: none; }
form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid var(--line); }
textarea { flex: 1; resize: none; height: 44px; padding: 10px; border: 1px solid var(--line); border-radius: 10px;
  background: var(--bg); color: var(--fg); font: inherit; }
form button { border: 0; border-radius: 10px; padding: 0 16px; background: var(--accent); color: var(--on-accent); font: 600 15px system-ui, sans-serif; cursor: pointer; }
form button:disabled { opacity: .6; cursor: wait; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
.quiz-bar { display: flex; gap: 6px; align-items: center; padding: 6px 12px; border-bottom: 1px solid #e5e7eb; flex-wrap: wrap; }
.quiz-bar button, .quiz button { font: inherit; padding: 4px 10px; border: 1px solid #9ca3af; border-radius: 6px; background: #fff; cursor: pointer; }
.quiz-bar button:focus-visible, .quiz button:focus-visible, .quiz input:focus-visible { outline: 2px solid #1d4ed8; outline-offset: 1px; }
.due { margin: 0; font-size: 12px; color: #374151; }
.quiz { padding: 10px 12px; border-bottom: 1px solid #e5e7eb; overflow: auto; max-height: 60%; }
.quiz[hidden] { display: none; }
.quiz .choices { display: flex; flex-direction: column; gap: 6px; margin: 8px 0; }
.quiz .choices button { text-align: left; }
.quiz form { display: block; padding: 0; border: 0; }
.quiz form label { display: block; font-size: 13px; }
.quiz form button { background: var(--accent); color: var(--on-accent); border: 0; padding: 6px 14px; }
.quiz input { font: inherit; width: 100%; box-sizing: border-box; padding: 4px 6px; margin: 6px 0; }
.quiz .correct { color: #065f46; } .quiz .wrong, .quiz .partly { color: #92400e; }
.quiz table { border-collapse: collapse; width: 100%; font-size: 13px; } .quiz td, .quiz th { border-bottom: 1px solid #e5e7eb; padding: 3px 4px; text-align: left; }
.root.inline .panel { position: static; width: auto; height: calc(100vh - 120px); min-height: 420px; box-shadow: none; }
.root.inline .launcher, .root.inline header .close { display: none; }
@media (max-width: 480px) {
  .panel { right: 0; bottom: 0; width: 100vw; height: 100dvh; border-radius: 0; border: 0; }
  .launcher { right: 12px; bottom: 12px; }
}`;

  const el = (tag, props = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    node.append(...children);
    return node;
  };

  const host = el("div", { id: "course-guide-widget" });
  const shadow = host.attachShadow({ mode: "open" });
  const style = el("style", { text: CSS });
  const launcher = el("button", { class: "launcher", type: "button", "aria-expanded": "false", "aria-controls": "cg-panel", text: "Ask the course" });
  const log = el("div", { class: "log", role: "log", "aria-live": "polite" });
  const close = el("button", { type: "button", class: "close", "aria-label": "Close the Course Guide", text: "✕" });
  const clear = el("button", { type: "button", "aria-label": "Start a new conversation", text: "New" });
  const quizButton = el("button", { type: "button", class: "quiz-me", text: "Quiz me" });
  const progressButton = el("button", { type: "button", class: "your-progress", text: "Your progress" });
  const quizBox = el("div", { class: "quiz", hidden: "" });
  const quizFeedback = el("div", { class: "quiz-feedback", "aria-live": "polite" });
  const dueLine = el("p", { class: "due", "aria-live": "polite" });
  const input = el("textarea", { id: "cg-question", rows: "1", maxlength: "1000", placeholder: "Ask about this course…" });
  const send = el("button", { type: "submit", text: "Ask" });
  const form = el("form", {}, el("label", { for: "cg-question", class: "sr", text: "Your question" }), input, send);
  const panel = el("section", { class: "panel", id: "cg-panel", role: "dialog", "aria-label": "Course Guide", hidden: "" },
    el("header", {}, el("h2", { text: "Course Guide" }), clear, close),
    el("nav", { class: "quiz-bar", "aria-label": "Quiz" }, quizButton, RECORDING ? progressButton : "", dueLine), quizBox, log, form);
  if (RECORDING) panel.append(el("p", { class: "privacy", text: PRIVACY }));
  shadow.append(style, el("div", { class: inline ? "root inline" : "root" }, launcher, panel));

  // The API neutralises course markup in answers ("<" of a tag as "&lt;"); shown as text, it reads as written.
  const asText = (answer) => String(answer || "").replace(/&lt;/g, "<");

  const safeUrl = (url) => {
    try {
      const parsed = new URL(url, guide);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
    } catch (e) {
      return null;
    }
  };
  const link = (url, text) => {
    const href = safeUrl(url);
    return href ? el("a", { href, target: "_blank", rel: "noopener", text }) : document.createTextNode(text);
  };
  const lessonUrl = (source, page) => `${guide}/course/${source.split("/").map(encodeURIComponent).join("/")}${page ? "#page=" + page : ""}`;

  // Text with each [n] turned into a link to citation n's passage.
  const withMarkers = (text, urls) =>
    text.split(/(\[\d+\])/).map((part) => {
      const n = /^\[(\d+)\]$/.exec(part);
      return n && urls[n[1]] ? link(urls[n[1]], part) : document.createTextNode(part);
    });

  function renderAnswer(box, data) {
    box.textContent = "";
    const urls = {};
    for (const c of data.citations || []) urls[c.n] = c.url;
    if (data.refused) {
      box.append(el("p", { text: asText(data.answer).split(" The closest topics")[0] }));
      const seen = new Set();
      const topics = el("ul");
      for (const r of data.retrieved || []) {
        const label = r.section.startsWith(r.title) ? r.section : `${r.title} › ${r.section}`;
        if (seen.has(label) || seen.size === 3) continue;
        seen.add(label);
        topics.append(el("li", {}, link(lessonUrl(r.source, r.page), label.replaceAll(" > ", " › "))));
      }
      if (seen.size) box.append(el("h3", { text: "Closest topics in the course" }), topics);
    } else {
      for (const block of asText(data.answer).split("\n\n")) {
        const lines = block.split("\n");
        if (lines.every((line) => line.startsWith("- "))) {
          box.append(el("ul", {}, ...lines.map((line) => el("li", {}, ...withMarkers(line.slice(2), urls)))));
        } else {
          box.append(el("p", {}, ...withMarkers(block, urls)));
        }
      }
      if (data.citations && data.citations.length) {
        box.append(el("h3", { text: "Sources" }),
          el("ol", { class: "sources" }, ...data.citations.map((c) =>
            el("li", {}, link(c.url, c.section.startsWith(c.title) ? c.section.replaceAll(" > ", " › ") : `${c.title} › ${c.section}`)))));
      }
    }
    if (data.notice) box.append(el("p", { class: "notice", text: data.notice }));
  }

  // A thumb drawn as SVG (this must not depend on an emoji font); `down` turns it over.
  const SVG = "http://www.w3.org/2000/svg";
  const thumb = (down) => {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    if (down) svg.setAttribute("transform", "rotate(180)");
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", "M7 10v11H3V10h4zm0 0l4-8c1.7 0 3 1.3 3 3v4h5.2a2 2 0 0 1 2 2.3l-1.4 8A2 2 0 0 1 17.8 21H7");
    svg.append(path);
    return svg;
  };

  async function sendVote(turn, helpful, comment) {
    const response = await fetch(guide + "/api/feedback", {
      method: "POST",
      headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify(withCourse(comment ? { answer_id: turn.answerId, helpful, comment } : { answer_id: turn.answerId, helpful })),
    });
    if (!response.ok) {
      let message = `Your feedback could not be sent (${response.status}). Please try again.`;
      try { message = (await response.json()).error || message; } catch (e) { /* keep the status line */ }
      throw new Error(message);
    }
  }

  // Helpful / Not helpful under an answer; after a vote, an optional comment (a second vote replaces the first).
  function voteBar(turn) {
    const bar = el("div", { class: "vote", role: "group", "aria-label": "Was this answer helpful?" });
    const yes = el("button", { type: "button", class: "yes", "aria-pressed": String(turn.vote === true) }, thumb(false), "Helpful");
    const no = el("button", { type: "button", class: "no", "aria-pressed": String(turn.vote === false) }, thumb(true), "Not helpful");
    const status = el("span", { class: "thanks", role: "status" });
    const comment = el("input", { type: "text", maxlength: "2000", placeholder: "What was missing? (optional)", "aria-label": "Comment on this answer" });
    const sendComment = el("button", { type: "button", class: "send-comment", text: "Send" });
    const commentRow = el("span", { class: "vote", hidden: "" }, comment, sendComment);
    let chosen = turn.vote; // the vote clicked last, even while it is still being sent
    const vote = async (helpful, text) => {
      chosen = helpful;
      try {
        await sendVote(turn, helpful, text);
        turn.vote = helpful;
        save();
        yes.setAttribute("aria-pressed", String(helpful));
        no.setAttribute("aria-pressed", String(!helpful));
        status.textContent = text ? "Thanks, your comment was sent." : "Thanks for your feedback.";
        commentRow.hidden = Boolean(text);
        if (!text) comment.focus();
      } catch (e) {
        status.textContent = "";
        showError(e.message);
      }
    };
    yes.addEventListener("click", () => vote(true));
    no.addEventListener("click", () => vote(false));
    sendComment.addEventListener("click", () => { if (comment.value.trim() && chosen !== undefined) vote(chosen, comment.value.trim()); });
    comment.addEventListener("keydown", (event) => { if (event.key === "Enter") { event.preventDefault(); sendComment.click(); } });
    bar.append(yes, no, status, commentRow);
    return bar;
  }

  const scroll = () => { log.scrollTop = log.scrollHeight; };
  const addUser = (text) => { log.append(el("div", { class: "msg me", text })); scroll(); };
  const addBot = (data) => {
    const box = el("div", { class: "msg bot" });
    log.append(box);
    if (data) renderAnswer(box, data);
    scroll();
    return box;
  };
  const showError = (message) => { log.append(el("div", { class: "msg error", role: "alert", text: message })); scroll(); };

  function renderConversation() {
    log.textContent = "";
    if (!turns.length) log.append(el("p", { class: "hint", text: "Ask a question about the course. Answers quote the course and link to their sources." }));
    for (const turn of turns) {
      addUser(turn.question);
      if (turn.answer) {
        const box = addBot(turn.answer);
        if (turn.answerId && RECORDING) box.append(voteBar(turn));
      }
    }
  }

  // Only SSE's event and data fields are used; data is JSON, so an event is one "data:" line.
  function parseEvent(raw) {
    let event = "message";
    const data = [];
    for (const line of raw.split("\n")) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    return { event, data: data.length ? JSON.parse(data.join("\n")) : {} };
  }

  async function refusalReason() {
    // A no-cors request succeeds whenever the guide is up: then the failure was the guide refusing this site.
    try {
      await fetch(guide + "/api/health", { mode: "no-cors", cache: "no-store" });
      return `The Course Guide at ${guide} does not accept questions from this site (${location.origin}). Ask the course team to add it to the guide's allowed origins.`;
    } catch (e) {
      return `The Course Guide at ${guide} cannot be reached. Check your connection and try again.`;
    }
  }

  async function ask(question) {
    const history = [];
    for (const turn of turns.slice(-MAX_TURNS / 2)) {
      history.push({ role: "user", content: turn.question.slice(0, 8000) });
      if (turn.answer) history.push({ role: "assistant", content: String(turn.answer.answer).slice(0, 8000) });
    }
    addUser(question);
    await learnerReady;
    let response;
    try {
      response = await fetch(guide + "/api/ask/stream", {
        method: "POST",
        headers: headers({ "Content-Type": "application/json" }),
        body: JSON.stringify(withCourse({ question, history, lesson, learner, channel: "widget" })),
      });
    } catch (e) {
      showError(await refusalReason());
      return;
    }
    if (!response.ok) {
      let message = `The Course Guide answered with an error (${response.status}).`;
      try { message = (await response.json()).error || message; } catch (e) { /* not JSON: keep the status line */ }
      showError(message);
      return;
    }
    const box = addBot(null);
    box.setAttribute("aria-busy", "true");
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let answer = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const { event, data } = parseEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (event === "token") { box.textContent += asText(data.text); scroll(); }
        else if (event === "answer") { answer = data; renderAnswer(box, data); scroll(); }
        else if (event === "error") showError(data.error);
      }
    }
    box.removeAttribute("aria-busy");
    if (answer) {
      const turn = { question, answerId: answer.answer_id, answer: { answer: answer.answer, refused: answer.refused, citations: answer.citations, retrieved: answer.retrieved.slice(0, 5).map(({ text, ...rest }) => rest), notice: answer.notice } };
      turns.push(turn);
      save();
      if (answer.answer_id && RECORDING) { box.append(voteBar(turn)); scroll(); }
    } else if (!box.textContent) box.remove();
  }

  // The quiz: one question at a time from /api/quiz; the server grades each reply and stores it under the learner id.
  let quizSession = null;
  const dueText = (n) => n ? `${n} question${n === 1 ? " is" : "s are"} due for review.` : "No questions are due for review.";
  async function post(path, body) {
    await learnerReady;
    if ("learner" in body) body = { ...body, learner }; /* the id as linked, not as it was when the call was made */
    const response = await fetch(guide + path, { method: "POST", headers: headers({ "Content-Type": "application/json" }), body: JSON.stringify(withCourse(body)) });
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || `The Course Guide answered with an error (${response.status}).`);
    return data;
  }
  async function refreshDue() {
    if (!RECORDING) return null;
    await learnerReady;
    try {
      const response = await fetch(`${guide}/api/progress?learner=${encodeURIComponent(learner)}`, { cache: "no-store", headers: headers() });
      const data = await response.json();
      dueLine.textContent = dueText(data.due || 0);
      return data;
    } catch (e) {
      return null;
    }
  }
  function showQuestion(data) {
    quizBox.hidden = false;
    quizBox.textContent = "";
    if (data.feedback) {
      const f = data.feedback;
      quizFeedback.textContent = "";
      // The grader's reason may open with the verdict itself ("Correct: ..."); say the verdict once.
      const reason = f.reason.replace(/^(correct|partly right|not quite)[.:]\s*/i, "");
      const said = `${f.verdict === "correct" ? "Correct." : f.verdict === "partly" ? "Partly right." : "Not quite."} ${reason.charAt(0).toUpperCase()}${reason.slice(1)}`;
      quizFeedback.append(el("p", { class: f.verdict, text: said.trim() }),
        el("p", { text: `Answer: ${f.answer}` }));
      if (f.reread && f.reread.path) quizFeedback.append(el("p", {}, document.createTextNode("Reread: "), link(guide + f.reread.path, f.reread.label)));
      if (f.verdict !== "correct" && data.attempt_id) {
        // The grade stays as it is; the dispute goes to the instructor's quiz page, beside the item's other misses.
        const dispute = el("button", { type: "button", class: "dispute", text: "I think my answer was right" });
        dispute.addEventListener("click", async () => {
          dispute.disabled = true;
          try {
            await post("/api/quiz/dispute", { attempt_id: data.attempt_id, learner });
            dispute.replaceWith(el("p", { class: "disputed", text: "Sent: your teacher will look at this grading." }));
            // The button is gone: focus goes back to the question being asked (or to "Quiz me" when the quiz is over).
            (quizBox.querySelector(".choices button, #cg-quiz-answer") || quizButton).focus();
          } catch (e) {
            dispute.disabled = false;
            showError(e.message);
          }
        });
        quizFeedback.append(dispute);
      }
    } else quizFeedback.textContent = "";
    quizBox.append(quizFeedback);
    if (data.finished || !data.question) {
      quizSession = null;
      quizBox.append(el("p", { class: "summary", text: `Quiz over: ${data.score} of ${data.answered} right.` }));
      if (data.grade) quizBox.append(el("p", { class: "grade", text: data.grade === "queued" ? "Your score is being sent to your course's gradebook." : "Your score for this quiz was already sent to your course's gradebook." }));
      refreshDue();
      quizButton.focus();
      return;
    }
    quizSession = data.session;
    const q = data.question;
    const heading = el("p", { class: "question", id: "cg-quiz-q", text: `Question ${q.number} of ${q.total}: ${q.question}` });
    quizBox.append(heading);
    if (q.choices.length) {
      const choices = el("div", { class: "choices", role: "group", "aria-labelledby": "cg-quiz-q" });
      q.choices.forEach((choice, i) => {
        const button = el("button", { type: "button", text: q.letters.length ? `${q.letters[i]}. ${choice}` : choice });
        button.addEventListener("click", () => reply(q.letters.length ? q.letters[i] : choice));
        choices.append(button);
      });
      quizBox.append(choices);
      choices.firstChild.focus();
    } else {
      const answerForm = el("form", {});
      const box = el("input", { id: "cg-quiz-answer", type: "text", maxlength: "1000", autocomplete: "off" });
      answerForm.append(el("label", { for: "cg-quiz-answer", text: "Your answer" }), box, el("button", { type: "submit", text: "Check" }));
      answerForm.addEventListener("submit", (event) => { event.preventDefault(); if (box.value.trim()) reply(box.value.trim()); });
      quizBox.append(answerForm);
      box.focus();
    }
  }
  async function reply(text) {
    if (!quizSession) return;
    try {
      showQuestion(await post("/api/quiz/reply", { session: quizSession, reply: text, learner, channel: "widget" }));
    } catch (e) {
      showError(e.message);
    }
  }
  async function startQuiz() {
    try {
      const progress = RECORDING ? await refreshDue() : null;
      const mode = progress && progress.due ? "review" : "quiz";
      showQuestion(await post("/api/quiz", { n: 5, lesson: mode === "quiz" ? lesson : null, learner, mode, channel: "widget" }));
    } catch (e) {
      showError(e.message);
    }
  }
  async function showProgress() {
    const data = await refreshDue();
    quizBox.hidden = false;
    quizBox.textContent = "";
    quizSession = null;
    const title = el("h3", { text: "Your progress", tabindex: "-1" });
    quizBox.append(title);
    if (!data || !data.lessons.length) quizBox.append(el("p", { text: "No quiz answers are stored for you yet. Press “Quiz me” to start." }));
    else {
      const table = el("table", {}, el("tr", {}, el("th", { text: "Lesson" }), el("th", { text: "Mastery" }), el("th", { text: "Due" })));
      for (const row of data.lessons) table.append(el("tr", {}, el("td", {}, link(guide + row.url, row.title)), el("td", { text: `${Math.round(row.mastery * 100)}%` }), el("td", { text: String(row.due) })));
      quizBox.append(table, el("p", { class: "due-summary", text: dueText(data.due) }));
    }
    // The link carries this id to the guide's own page, where the chat then knows the same learner on any site.
    if (!launch) quizBox.append(el("p", { class: "full-chat" }, link(`${guide}/?learner=${encodeURIComponent(learner)}`, "Open your progress in the full chat")));
    title.focus();
  }
  quizButton.addEventListener("click", startQuiz);
  progressButton.addEventListener("click", showProgress);
  refreshDue();

  function setOpen(open) {
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", String(open));
    launcher.textContent = open ? "Close" : "Ask the course";
    (open ? input : launcher).focus();
  }

  launcher.addEventListener("click", () => setOpen(panel.hidden));
  close.addEventListener("click", () => setOpen(false));
  clear.addEventListener("click", () => { turns = []; save(); renderConversation(); input.focus(); });
  shadow.addEventListener("keydown", (event) => { if (event.key === "Escape" && !panel.hidden && !inline) setOpen(false); });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = input.value.trim();
    if (!question || send.disabled) return;
    input.value = "";
    send.disabled = true;
    try {
      await ask(question);
    } catch (e) {
      showError("The answer was cut off. Please ask again.");
    } finally {
      send.disabled = false;
      input.focus();
    }
  });

  renderConversation();
  document.body.append(host);
  if (inline) { panel.hidden = false; launcher.setAttribute("aria-expanded", "true"); }
  window.courseGuideWidget = { open: () => setOpen(true), close: () => setOpen(false) };
})();
