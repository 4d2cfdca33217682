// adme review page: one paragraph at a time; keys 1-5 answer, U undoes, S skips.
// Every answer is POSTed (and committed) before the next paragraph shows; actions are run one
// after another, so keys pressed quickly label successive paragraphs, none is lost.
"use strict";

const state = {
  config: null,
  queue: "confidence",
  setId: null,
  items: [],
  total: 0,
  done: 0,
  skipped: [],
  focus: null,
  history: [],
  chain: Promise.resolve(),
};

const $ = (id) => document.getElementById(id);

async function api(path, body) {
  const options =
    body === undefined
      ? {}
      : {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(body),
        };
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(data.detail || `HTTP ${response.status}`);
  }
  return data;
}

function say(text, error = false) {
  $("message").textContent = text;
  $("message").className = error ? "message error" : "message";
}

// Run actions one after another; an error is shown and does not block the next action.
function enqueue(action) {
  state.chain = state.chain.then(action).catch((err) => say(`not saved: ${err.message}`, true));
  return state.chain;
}

function current() {
  if (state.focus) {
    const found = state.items.find((i) => i.paragraph_id === state.focus);
    if (found) return found;
  }
  const fresh = state.items.filter((i) => !state.skipped.includes(i.paragraph_id));
  return fresh[0] || state.items[0] || null;
}

async function load() {
  const params = new URLSearchParams({ queue: state.queue });
  if (state.setId) params.set("set_id", state.setId);
  const data = await api(`/api/review/items?${params}`);
  state.items = data.items;
  state.total = data.total;
  state.done = data.done;
  render();
}

function render() {
  const noun = state.queue === "drug" ? "paragraph" : "text";
  const unit = state.total === 1 ? noun : `${noun}s`; // "1 text", "2 texts" (adme.wording)
  $("counter").textContent = `done ${state.done} of ${state.total} ${unit}`;
  const item = current();
  const card = $("card");
  const writable = state.config.allow_reviews;
  for (const b of document.querySelectorAll("#answers button")) b.disabled = !item || !writable;
  $("skip").disabled = !item;
  $("undo").disabled = !writable || !state.history.some((h) => !h.undone);
  if (!item) {
    card.hidden = true;
    card.dataset.paragraphId = "";
    if (state.total === 0 && state.queue !== "drug") {
      say("This queue is empty: the served model has no stored predictions that belong in it " +
          "(run `adme label --model DIR` on this database first).");
    } else {
      say(state.total === 1 ? `Nothing left to review here: the 1 ${unit} is done.`
                            : `Nothing left to review here: all ${state.total} ${unit} are done.`);
    }
    return;
  }
  if (!$("message").classList.contains("error")) {
    say(writable ? "" : "Read-only: start adme serve with --allow-reviews --reviewer NAME to " +
                        "record answers.");
  }
  card.hidden = false;
  card.dataset.paragraphId = item.paragraph_id;
  $("title").textContent = item.title || item.set_id;
  $("path").textContent = item.section_path || "(no section path)";
  $("heading").textContent = item.heading || "none";
  $("text").textContent = item.text;
  $("copies").textContent =
    item.copies > 1
      ? `This text appears in ${item.copies} stored paragraphs; an answer labels all of them.`
      : "";
  $("rule").textContent = item.rule_label || "none";
  $("model").textContent = item.model ? item.model.label : "none";
  $("confidence").textContent = item.model ? `(${item.model.confidence.toFixed(2)})` : "";
  const table = $("probs");
  table.replaceChildren();
  if (item.model) {
    for (const label of state.config.labels.filter((l) => l in item.model.probs)) {
      const p = item.model.probs[label];
      const row = table.insertRow();
      row.className = label === item.model.label ? "chosen" : "";
      row.insertCell().textContent = label;
      row.cells[0].className = "name";
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.style.width = `${Math.round(p * 100)}%`;
      row.insertCell().append(bar);
      row.cells[1].className = "track";
      row.insertCell().textContent = p.toFixed(2);
      row.cells[2].className = "value";
    }
  }
}

function renderHistory() {
  const list = $("history");
  list.replaceChildren();
  for (const entry of state.history.slice(-8).reverse()) {
    const li = document.createElement("li");
    li.className = entry.undone ? "undone" : "";
    const tag = document.createElement("span");
    tag.className = "tag";
    tag.textContent = entry.label;
    li.append(tag, ` ${entry.text.slice(0, 90)}${entry.text.length > 90 ? "…" : ""}`);
    list.append(li);
  }
}

async function answer(label) {
  const item = current();
  if (!item || !state.config.allow_reviews) return;
  const saved = await api("/api/review/answers", { paragraph_id: item.paragraph_id, label });
  state.history.push({ ...saved, text: item.text, undone: false });
  state.skipped = state.skipped.filter((id) => id !== item.paragraph_id);
  state.focus = null;
  say(`saved: ${label} (review ${saved.review_id})`);
  renderHistory();
  await load();
}

async function undo() {
  const entry = [...state.history].reverse().find((h) => !h.undone);
  if (!entry) return;
  await api("/api/review/undo", { review_id: entry.review_id });
  entry.undone = true;
  state.focus = entry.paragraph_id;
  say(`undone: ${entry.label} (review ${entry.review_id} retracted)`);
  renderHistory();
  await load();
}

function skip() {
  const item = current();
  if (!item) return;
  state.skipped = state.skipped.filter((id) => id !== item.paragraph_id);
  state.skipped.push(item.paragraph_id);
  state.items = [...state.items.filter((i) => i !== item), item];
  state.focus = null;
  render();
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.target instanceof HTMLSelectElement) return;
  const index = Number.parseInt(event.key, 10);
  if (index >= 1 && index <= state.config.labels.length) {
    event.preventDefault();
    const label = state.config.labels[index - 1];
    enqueue(() => answer(label));
  } else if (event.key === "u" || event.key === "U") {
    event.preventDefault();
    enqueue(undo);
  } else if (event.key === "s" || event.key === "S") {
    event.preventDefault();
    enqueue(async () => skip());
  }
}

async function choose() {
  state.queue = $("queue").value;
  $("drug-choice").hidden = state.queue !== "drug";
  state.setId = state.queue === "drug" ? $("drug").value : null;
  state.skipped = [];
  state.focus = null;
  say("");
  await load();
}

async function start() {
  state.config = await api("/api/review/config");
  $("model-id").textContent = state.config.model_id;
  const mode = $("mode");
  if (state.config.allow_reviews) {
    mode.textContent = `recording answers as ${state.config.reviewer}`;
    mode.className = "badge recording";
  } else {
    mode.textContent = "read-only";
    mode.className = "badge readonly";
  }
  state.config.labels.forEach((label, i) => {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.label = label;
    const key = document.createElement("kbd");
    key.textContent = String(i + 1);
    button.append(key, ` ${label}`);
    button.addEventListener("click", () => enqueue(() => answer(label)));
    $("answers").append(button);
  });
  for (const drug of await api("/api/review/drugs")) {
    const option = document.createElement("option");
    option.value = drug.set_id;
    option.textContent = `${drug.title || drug.set_id} (${drug.reviewed}/${drug.paragraphs})`;
    $("drug").append(option);
  }
  for (const select of [$("queue"), $("drug")]) {
    select.addEventListener("change", () => {
      select.blur(); // so the keys 1-5 answer again at once
      enqueue(choose);
    });
  }
  $("undo").addEventListener("click", () => enqueue(undo));
  $("skip").addEventListener("click", () => enqueue(async () => skip()));
  document.addEventListener("keydown", onKey);
  await choose();
  document.body.dataset.ready = "true";
}

start().catch((err) => say(`cannot load the review page: ${err.message}`, true));
