// Cairn drive: uploads (picker and drag-and-drop, files and whole folders), the transfer
// panel, moving by dragging, confirmations and keyboard shortcuts. Plain JavaScript, no
// build step; the pages work without it except for uploading.
"use strict";

const CHUNK = 8 * 1024 * 1024;   // bytes per upload request
const PARALLEL = 3;              // files uploading at once
const RETRIES = 4;               // tries of one chunk before the file fails

const folderEl = () => document.querySelector("[data-dir]");
const currentDir = () => (folderEl() ? folderEl().dataset.dir : "/");

function join(dir, rel) {
  return (dir === "/" ? "" : dir) + "/" + rel.replace(/^\/+/, "");
}

function human(bytes) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes, u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return u === 0 ? `${bytes} B` : `${v.toFixed(1)} ${units[u]}`;
}

async function postJson(url, body) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  let data = {};
  try { data = await res.json(); } catch (_) { /* empty answer */ }
  if (!res.ok) throw new Error(data.error || `the drive answered ${res.status}`);
  return data;
}

// ---- The transfer panel -------------------------------------------------------------

const jobs = new Map();     // local id -> upload job (kept for retry)
let localIds = 0;
let serverRows = [];        // the last /api/transfers answer
let polling = null;

function panel() { return document.getElementById("transfers"); }

function render() {
  const list = document.getElementById("transfer-list");
  if (!list) return;
  const rows = [];
  const shownServer = new Set();
  for (const job of jobs.values()) {
    const srv = job.serverId ? serverRows.find((r) => r.id === job.serverId) : null;
    if (srv) shownServer.add(srv.id);
    rows.push({
      key: "job-" + job.id, path: job.path, direction: "upload", size: job.file.size,
      done: job.state === "done" ? job.file.size : srv ? srv.done : 0,
      speed: srv ? srv.bytes_per_second : 0,
      state: job.state === "running" && srv ? srv.state : job.state,
      error: job.error || (srv && srv.error), note: job.note, job,
    });
  }
  for (const r of serverRows) {
    if (shownServer.has(r.id) || r.direction === "upload") continue;
    rows.push({ key: "srv-" + r.id, path: r.path, direction: r.direction, size: r.size,
      done: r.done, speed: r.bytes_per_second, state: r.state, error: r.error, serverId: r.id });
  }
  panel().hidden = rows.length === 0;
  list.replaceChildren(...rows.map(row));
  const running = rows.filter((r) => r.state === "running" || r.state === "waiting").length;
  const failed = rows.filter((r) => r.state === "failed").length;
  const title = document.getElementById("transfers-title");
  title.textContent = running ? `Transfers — ${running} in progress`
    : failed ? `Transfers — ${failed} failed` : "Transfers — all done";
  // When everything is done the panel folds to its title, out of the way; a failure or
  // new work opens it again.
  if (running !== lastRunning || failed > lastFailed) {
    setExpanded(running > 0 || failed > 0);
  }
  lastRunning = running;
  lastFailed = failed;
  makeRoom();
}

// -1: the first render decides whether the panel starts open.
let lastRunning = -1, lastFailed = 0;

// The panel floats over the page's corner: leave room below the content so everything can
// be scrolled clear of it.
function makeRoom() {
  const main = document.querySelector("main");
  const p = panel();
  if (!main || !p) return;
  main.style.paddingBottom = p.hidden ? "" : `${p.offsetHeight + 32}px`;
}

function setExpanded(open) {
  const toggle = document.getElementById("transfers-toggle");
  const list = document.getElementById("transfer-list");
  if (!toggle || !list) return;
  toggle.setAttribute("aria-expanded", String(open));
  toggle.textContent = open ? "Hide" : "Show";
  list.hidden = !open;
  makeRoom();
}

function row(r) {
  const li = document.createElement("li");
  li.className = "transfer " + r.state;
  li.dataset.transfer = r.path;
  li.dataset.state = r.state;
  const name = document.createElement("span");
  name.className = "transfer-name";
  name.textContent = (r.direction === "upload" ? "↑ " : "↓ ") + r.path;
  const bar = document.createElement("progress");
  bar.max = Math.max(r.size, 1);
  bar.value = r.state === "done" ? bar.max : Math.min(r.done, r.size);
  bar.setAttribute("aria-label", "Progress of " + r.path);
  const info = document.createElement("span");
  info.className = "transfer-info";
  const words = { running: "", done: "done", failed: "failed", cancelled: "cancelled", waiting: "waiting" };
  let text = `${human(Math.min(r.done, r.size))} of ${human(r.size)}`;
  if (r.state === "running" && r.speed) text += ` · ${human(r.speed)}/s`;
  if (words[r.state]) text += ` · ${words[r.state]}`;
  if (r.error) text += ` — ${r.error}`;
  if (r.note) text += ` — ${r.note}`;
  info.textContent = text;
  li.append(name, bar, info);
  if (r.state === "running" || r.state === "waiting") {
    li.append(button("Cancel", "Cancel " + r.path, () => cancel(r)));
  } else if (r.job && (r.state === "failed" || r.state === "cancelled")) {
    li.append(button("Retry", "Retry " + r.path, () => retry(r.job)));
  }
  return li;
}

function button(text, label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.setAttribute("aria-label", label);
  b.addEventListener("click", onClick);
  return b;
}

async function cancel(r) {
  if (r.job) {
    r.job.cancelled = true;
    if (r.job.xhrs) abortAll(r.job);
    if (r.job.state === "waiting") r.job.state = "cancelled";
  }
  const id = r.job ? r.job.serverId : r.serverId;
  if (id) {
    try { await postJson(`/api/transfers/${id}/cancel`, {}); } catch (_) { /* already over */ }
  }
  render();
}

async function poll() {
  try {
    const res = await fetch("/api/transfers", { credentials: "same-origin" });
    if (res.ok) serverRows = (await res.json()).transfers;
  } catch (_) { /* the server may be restarting */ }
  render();
  const busy = [...jobs.values()].some((j) => j.state === "running" || j.state === "waiting")
    || serverRows.some((r) => r.state === "running");
  polling = setTimeout(poll, busy ? 500 : 3000);
}

function startPolling() {
  if (polling) clearTimeout(polling);
  poll();
}

// ---- Uploads ------------------------------------------------------------------------

const queue = [];
let active = 0;
let uploadedSomething = false;

function enqueue(file, path) {
  const job = { id: ++localIds, file, path, state: "waiting", serverId: null, error: null, note: null };
  jobs.set(job.id, job);
  queue.push(job);
  pump();
  startPolling();
}

function pump() {
  while (active < PARALLEL && queue.length) {
    const job = queue.shift();
    if (job.state !== "waiting") continue;
    active++;
    upload(job).finally(() => { active--; pump(); finished(); });
  }
}

function finished() {
  const busy = [...jobs.values()].some((j) => j.state === "running" || j.state === "waiting");
  if (!busy && uploadedSomething && folderEl()) {
    uploadedSomething = false;
    refreshListing();
  }
}

// Replaces the listing with a fresh copy of the page, keeping the transfer panel.
async function refreshListing() {
  try {
    const res = await fetch(location.href, { credentials: "same-origin" });
    if (!res.ok) return;
    const doc = new DOMParser().parseFromString(await res.text(), "text/html");
    const fresh = doc.querySelector("[data-dir]");
    const here = folderEl();
    if (fresh && here) {
      here.replaceWith(document.adoptNode(fresh));
      wire();
      fillHealth();
    }
  } catch (_) { /* keep the old listing */ }
}

const IN_FLIGHT = 2;             // chunks of one file on their way at once

function sendChunk(job, offset, end) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    job.xhrs.add(xhr);
    const settle = () => job.xhrs.delete(xhr);
    xhr.open("PUT", `/api/uploads/${job.serverId}?offset=${offset}`);
    xhr.responseType = "json";
    xhr.onload = () => { settle(); resolve({ status: xhr.status, body: xhr.response || {} }); };
    xhr.onerror = () => { settle(); reject(new Error("the connection to the drive broke")); };
    xhr.onabort = () => { settle(); reject(new Error("cancelled")); };
    xhr.send(job.file.slice(offset, end));
  });
}

function abortAll(job) {
  for (const xhr of [...job.xhrs]) xhr.abort();
}

// Sends the file in chunks, two in flight (the server takes them in order), and returns
// once the server says it is stored. A broken chunk is sent again from where the server
// says the upload is.
async function sendFile(job) {
  const size = job.file.size;
  let next = 0, tries = 0;
  const window = [];
  const launch = () => {
    if (size === 0 && next === 0 && !window.length) {
      window.push(sendChunk(job, 0, 0));
      next = -1;
    }
    while (window.length < IN_FLIGHT && next >= 0 && next < size) {
      const end = Math.min(next + CHUNK, size);
      const sent = sendChunk(job, next, end);
      sent.catch(() => {}); // an aborted chunk's rejection is expected; the loop reads the rest
      window.push(sent);
      next = end;
    }
  };
  const restartAt = (offset) => {
    abortAll(job);
    window.length = 0;
    next = offset;
    launch();
  };
  launch();
  while (window.length) {
    if (job.cancelled) throw new Error("cancelled");
    let answer;
    try {
      answer = await window[0];
    } catch (e) {
      if (job.cancelled || ++tries > RETRIES) throw e;
      // Ask where the upload is: an empty chunk at 0 answers it.
      abortAll(job);
      window.length = 0;
      const where = await sendChunk(job, 0, 0).catch(() => null);
      const at = where && (where.body.expected ?? where.body.received);
      if (typeof at !== "number") throw e;
      restartAt(at);
      continue;
    }
    window.shift();
    const body = answer.body;
    if (answer.status === 200 && body.stored) { job.note = body.note || null; return; }
    if (answer.status === 200) { tries = 0; launch(); continue; }
    if (typeof body.expected === "number" && ++tries <= RETRIES) { restartAt(body.expected); continue; }
    abortAll(job);
    throw new Error(body.error || `the drive answered ${answer.status}`);
  }
  throw new Error("the upload ended without the drive storing it");
}

async function upload(job) {
  job.state = "running";
  job.error = null;
  job.xhrs = new Set();
  render();
  try {
    const begun = await postJson("/api/uploads", { path: job.path, size: job.file.size });
    job.serverId = begun.id;
    await sendFile(job);
    job.state = "done";
    uploadedSomething = true;
  } catch (e) {
    job.state = job.cancelled ? "cancelled" : "failed";
    job.error = job.cancelled ? null : e.message;
  } finally {
    abortAll(job);
    render();
  }
}

function retry(job) {
  job.state = "waiting";
  job.cancelled = false;
  job.serverId = null;
  job.error = null;
  queue.push(job);
  pump();
  startPolling();
}

// Walks dropped folders (webkitGetAsEntry); empty folders are made too.
function readEntries(reader) {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

async function walkEntry(entry, base, files, folders) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    files.push({ file, rel: base + file.name });
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    let any = false;
    for (;;) {
      const batch = await readEntries(reader);
      if (!batch.length) break;
      any = true;
      for (const child of batch) await walkEntry(child, base + entry.name + "/", files, folders);
    }
    if (!any) folders.push(base + entry.name);
  }
}

async function dropped(dataTransfer) {
  const dir = currentDir();
  const entries = [...dataTransfer.items]
    .map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null))
    .filter(Boolean);
  if (!entries.length) {
    for (const file of dataTransfer.files) enqueue(file, join(dir, file.name));
    return;
  }
  const files = [], folders = [];
  for (const entry of entries) await walkEntry(entry, "", files, folders);
  for (const rel of folders) {
    try { await postJson("/api/mkdir", { path: join(dir, rel) }); } catch (e) { announce(e.message); }
  }
  if (folders.length && !files.length) refreshListing();
  for (const { file, rel } of files) enqueue(file, join(dir, rel));
}

function announce(text) {
  let note = document.getElementById("script-note");
  if (!note) {
    note = document.createElement("div");
    note.id = "script-note";
    note.className = "note problem";
    note.setAttribute("role", "alert");
    document.querySelector("main").prepend(note);
  }
  note.textContent = text;
}

// ---- Moving by dragging -------------------------------------------------------------

const MOVE_TYPE = "application/x-cairn-path";

async function moveTo(path, to) {
  try {
    await postJson("/api/move", { path, to });
    refreshListing();
  } catch (e) {
    announce(`Could not move ${path}: ${e.message}`);
  }
}

// ---- Entry menus, filled when opened -------------------------------------------------

function fillMenu(menu) {
  const body = menu.querySelector(".menu-body");
  const template = document.getElementById("entry-actions");
  if (!body || !template || body.dataset.filled) return;
  const path = menu.dataset.path;
  const name = path.slice(path.lastIndexOf("/") + 1);
  const parent = path.slice(0, path.lastIndexOf("/")) || "/";
  const forms = template.content.cloneNode(true);
  for (const input of forms.querySelectorAll("input[name=path]")) input.value = path;
  for (const input of forms.querySelectorAll("input[name=name]")) input.value = name;
  for (const input of forms.querySelectorAll("input[name=to]")) input.value = parent;
  body.replaceChildren(forms);
  body.dataset.filled = "1";
}

// ---- Copying a link -------------------------------------------------------------------

// The clipboard where the browser allows it, else the link selected to copy by hand.
async function copyField(button) {
  const field = document.getElementById(button.dataset.copy);
  if (!field) return;
  field.focus();
  field.select();
  let copied = false;
  try {
    await navigator.clipboard.writeText(field.value);
    copied = true;
  } catch {
    try { copied = document.execCommand("copy"); } catch { copied = false; }
  }
  button.dataset.copied = copied ? "yes" : "no";
  if (!button.dataset.label) button.dataset.label = button.textContent;
  button.textContent = copied ? "Copied" : "Press Ctrl+C to copy";
  setTimeout(() => { button.textContent = button.dataset.label; }, 2500);
}

// ---- Health badges, asked for after the listing shows --------------------------------

const HEALTH_EVERY = 5000;
const BADGES = {
  full: ["Healthy", "Stored at full redundancy"],
  degraded: ["Degraded", "Readable, below full redundancy; the network is repairing it"],
  unreadable: ["Unreadable", "Too few pieces can be read now; it comes back when peers return"],
  unknown: ["Unknown", "Health could not be checked just now"],
};

async function fillHealth() {
  const badges = document.querySelectorAll("[data-health-of]");
  if (!badges.length) return;
  let health = null;
  try {
    const res = await fetch("/api/health", { credentials: "same-origin" });
    if (res.ok) health = await res.json();
  } catch (_) { /* shown as unknown */ }
  const degraded = new Set(health ? health.degraded : []);
  const unreadable = new Set(health ? health.unreadable : []);
  for (const badge of badges) {
    const path = badge.dataset.healthOf;
    const state = !health ? "unknown" : unreadable.has(path) ? "unreadable" : degraded.has(path) ? "degraded" : "full";
    if (badge.dataset.health === state) continue;
    badge.dataset.health = state;
    badge.className = "badge " + state;
    badge.textContent = BADGES[state][0];
    badge.title = BADGES[state][1];
  }
}

// ---- Wiring -------------------------------------------------------------------------

function wire() {
  for (const id of ["upload-files", "upload-folder"]) {
    const input = document.getElementById(id);
    if (!input || input.dataset.wired) continue;
    input.dataset.wired = "1";
    input.addEventListener("change", () => {
      const dir = currentDir();
      for (const file of input.files) {
        enqueue(file, join(dir, file.webkitRelativePath || file.name));
      }
      input.value = "";
    });
  }
  for (const rowEl of document.querySelectorAll("tr.entry[draggable]")) {
    rowEl.addEventListener("dragstart", (e) => {
      e.dataTransfer.setData(MOVE_TYPE, rowEl.dataset.path);
      e.dataTransfer.effectAllowed = "move";
    });
  }
  for (const target of document.querySelectorAll("[data-drop]")) {
    const zone = target.closest("tr") || target;
    zone.addEventListener("dragover", (e) => {
      if (e.dataTransfer.types.includes(MOVE_TYPE)) { e.preventDefault(); zone.classList.add("drop-target"); }
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("drop-target"));
    zone.addEventListener("drop", (e) => {
      const path = e.dataTransfer.getData(MOVE_TYPE);
      zone.classList.remove("drop-target");
      if (!path) return;
      e.preventDefault();
      e.stopPropagation();
      if (path !== target.dataset.drop) moveTo(path, target.dataset.drop);
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  wire();
  fillHealth();
  if (document.querySelector("[data-health-of]")) setInterval(fillHealth, HEALTH_EVERY);
  if (panel()) startPolling();
  const toggle = document.getElementById("transfers-toggle");
  if (toggle) toggle.addEventListener("click", () => setExpanded(toggle.getAttribute("aria-expanded") !== "true"));
  const clear = document.getElementById("transfers-clear");
  if (clear) clear.addEventListener("click", async () => {
    for (const [id, job] of jobs) if (job.state !== "running" && job.state !== "waiting") jobs.delete(id);
    try { await postJson("/api/transfers/clear", {}); } catch (_) { /* nothing to clear */ }
    startPolling();
  });

  // Dropping files from the desktop anywhere on a folder's page uploads them here.
  document.addEventListener("dragover", (e) => {
    if (folderEl() && e.dataTransfer.types.includes("Files")) {
      e.preventDefault();
      document.body.classList.add("dropping");
    }
  });
  document.addEventListener("dragleave", (e) => {
    if (!e.relatedTarget) document.body.classList.remove("dropping");
  });
  document.addEventListener("drop", (e) => {
    document.body.classList.remove("dropping");
    if (folderEl() && e.dataTransfer.types.includes("Files")) {
      e.preventDefault();
      dropped(e.dataTransfer);
    }
  });

  document.addEventListener("click", (e) => {
    const button = e.target.closest && e.target.closest("button[data-copy]");
    if (button) copyField(button);
  });

  // Buttons that destroy something ask first.
  document.addEventListener("submit", (e) => {
    const button = e.submitter || e.target.querySelector("[data-confirm]");
    const question = button && button.dataset.confirm;
    if (question && !confirm(question)) e.preventDefault();
  });

  // One action menu open at a time.
  document.addEventListener("toggle", (e) => {
    if (e.target.matches && e.target.matches("details.menu") && e.target.open) {
      fillMenu(e.target);
      for (const other of document.querySelectorAll("details.menu[open]")) if (other !== e.target) other.open = false;
    }
  }, true);

  // Keys: "/" search, "u" upload, F2 rename and Delete trash the focused entry, Esc closes menus.
  document.addEventListener("keydown", (e) => {
    const typing = e.target.matches("input, textarea, select");
    if (e.key === "Escape") {
      for (const open of document.querySelectorAll("details.menu[open]")) {
        open.open = false;
        open.querySelector("summary").focus();
      }
      return;
    }
    if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
    const entry = e.target.closest && e.target.closest("tr.entry");
    if (e.key === "/") {
      const box = document.getElementById("search-box");
      if (box) { e.preventDefault(); box.focus(); }
    } else if (e.key === "u") {
      const input = document.getElementById("upload-files");
      if (input) { e.preventDefault(); input.click(); }
    } else if (entry && e.key === "F2") {
      e.preventDefault();
      const menu = entry.querySelector("details.menu");
      if (menu) { fillMenu(menu); menu.open = true; const name = menu.querySelector("input[name=name]"); if (name) { name.focus(); name.select(); } }
    } else if (entry && e.key === "Delete") {
      const menu = entry.querySelector("details.menu");
      if (menu) fillMenu(menu);
      const form = entry.querySelector("form[action='/do/delete']");
      if (form) { e.preventDefault(); form.requestSubmit(); }
    }
  });
});
