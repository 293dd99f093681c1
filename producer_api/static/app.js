// The userq console: a user's queue live, and the operators' views. Plain DOM, no framework.
import * as api from "./api.js";
import { example, validate } from "./schema.js";
import { SseParser } from "./sse.js";

const $ = (selector) => document.querySelector(selector);
const TERMINAL = new Set(["succeeded", "dead_lettered", "cancelled"]);
const SHOWN = 200; // the latest requests shown
const POLL_MS = 5000;

const state = {
  types: [],
  requests: new Map(), // request_id -> the latest view of it
  stream: null, // AbortController of the live stream
  admin: false,
  timers: [],
  samples: [], // consumer readings, for the rates
};

// ---------- helpers ----------

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function notify(message, kind = "info") {
  const notice = $("#notice");
  notice.textContent = message;
  notice.dataset.kind = kind;
}

function failed(error) {
  const text = error instanceof api.ApiError ? `${error.message} (${error.code})` : String(error.message || error);
  notify(text, "error");
}

async function act(button, work) {
  button.disabled = true;
  try {
    await work();
  } catch (error) {
    failed(error);
  } finally {
    button.disabled = false;
  }
}

const time = (iso) => (iso ? new Date(iso).toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" }) : "");
const when = (iso) => el("td", { class: "time" }, time(iso));
const short = (id) => String(id).slice(0, 8);
const badge = (status) => el("span", { class: `badge ${status}` }, status.replace("_", " "));

function facts(target, pairs) {
  target.replaceChildren(...pairs.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]));
}

function outcome(view) {
  if (view.error) return el("span", { class: "error-text" }, [view.error.cause, view.error.message].filter(Boolean).join(": "));
  if (view.result) return el("code", {}, JSON.stringify(view.result));
  return "";
}

function every(ms, work) {
  work();
  state.timers.push(setInterval(work, ms));
}

// ---------- signing in and out ----------

function credentials() {
  return [$("#username").value.trim(), $("#password").value];
}

$("#auth-form").addEventListener("submit", (event) => {
  event.preventDefault();
  act($("#sign-in"), async () => {
    $("#auth-error").textContent = "";
    try {
      await api.signIn(...credentials());
    } catch (error) {
      $("#auth-error").textContent = error.message;
      return;
    }
    await start();
  });
});

$("#register").addEventListener("click", () =>
  act($("#register"), async () => {
    $("#auth-error").textContent = "";
    try {
      await api.register(...credentials());
      await api.signIn(...credentials());
    } catch (error) {
      $("#auth-error").textContent = error.message;
      return;
    }
    await start();
  }),
);

$("#sign-out").addEventListener("click", () => act($("#sign-out"), () => api.signOut()));

api.onSessionEnd(() => {
  state.stream?.abort();
  [...state.timers, ...adminTimers].forEach(clearInterval);
  state.timers = [];
  adminTimers = [];
  state.requests.clear();
  $("#requests tbody").replaceChildren();
  for (const id of ["#user", "#admin", "#who", "#views", "#sign-out"]) $(id).hidden = true;
  $("#auth").hidden = false;
  $("#password").value = "";
  notify("Signed out.");
  $("#username").focus();
});

async function start() {
  const username = $("#username").value.trim();
  $("#password").value = "";
  $("#auth").hidden = true;
  $("#who").textContent = `Signed in as ${username}`;
  for (const id of ["#who", "#sign-out"]) $(id).hidden = false;
  notify("");
  const { types } = await api.call("GET", "/v1/types");
  state.types = types;
  $("#type").replaceChildren(...types.map((t) => el("option", { value: t.type }, t.type)));
  $("#dead-type").replaceChildren(el("option", { value: "" }, "any"), ...types.map((t) => el("option", { value: t.type }, t.type)));
  chooseType();
  state.admin = await isAdmin();
  $("#views").hidden = $("#show-admin").hidden = !state.admin; // a user has one view: no switch
  show("user");
  await loadRequests();
  every(POLL_MS, () => refreshQueue().catch(() => {}));
  follow();
}

async function isAdmin() {
  try {
    await api.call("GET", "/v1/admin/queues?limit=1");
    return true;
  } catch (error) {
    if (error.status === 403) return false;
    throw error;
  }
}

function show(view) {
  $("#user").hidden = view !== "user";
  $("#admin").hidden = view !== "admin";
  $("#show-user").setAttribute("aria-pressed", String(view === "user"));
  $("#show-admin").setAttribute("aria-pressed", String(view === "admin"));
  if (view === "admin") openTab(currentTab);
}

$("#show-user").addEventListener("click", () => show("user"));
$("#show-admin").addEventListener("click", () => show("admin"));

// ---------- a user: submit ----------

function chooseType() {
  const type = state.types.find((t) => t.type === $("#type").value);
  if (!type) return;
  $("#schema").textContent = JSON.stringify(type.payload_schema, null, 2);
  $("#payload").value = JSON.stringify(example(type.payload_schema), null, 2);
  checkPayload();
}

function checkPayload() {
  const type = state.types.find((t) => t.type === $("#type").value);
  let errors = [];
  let payload;
  try {
    payload = JSON.parse($("#payload").value || "{}");
    errors = type ? validate(type.payload_schema, payload) : [];
  } catch (error) {
    errors = [`not JSON: ${error.message}`];
  }
  $("#payload-errors").replaceChildren(...errors.map((e) => el("li", {}, e)));
  $("#payload").setAttribute("aria-invalid", String(errors.length > 0));
  return errors.length ? null : payload;
}

$("#type").addEventListener("change", chooseType);
$("#payload").addEventListener("input", checkPayload);

$("#submit-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const payload = checkPayload();
  if (payload === null) {
    $("#payload").focus();
    return;
  }
  act($("#send"), async () => {
    const view = await api.call("POST", "/v1/requests", { type: $("#type").value, payload });
    remember(view);
    notify(`Request ${short(view.request_id)} accepted.`);
    refreshQueue().catch(() => {});
  });
});

// ---------- a user: the queue and its requests, live ----------

async function refreshQueue() {
  const queue = await api.call("GET", "/v1/queue");
  facts($("#queue"), [
    ["State", queue.state],
    ["Depth", queue.depth],
    ["Retrying", queue.retrying],
    ["Paused", queue.paused ? `yes, by ${queue.paused_by === "admin" ? "an operator" : "you"}` : "no"],
    ["Held", queue.hold ?? "no"],
    ["Oldest waiting since", time(queue.oldest_queued_at) || "none waiting"],
  ]);
  $("#queue").dataset.paused = String(queue.paused);
}

async function loadRequests() {
  let cursor = null;
  for (let page = 0; page < 20; page += 1) {
    const query = cursor ? `?limit=500&cursor=${cursor}` : "?limit=500";
    const body = await api.call("GET", `/v1/requests${query}`);
    body.requests.forEach((view) => state.requests.set(view.request_id, view));
    cursor = body.next_cursor;
    if (!cursor) break;
  }
  renderRequests();
  await refreshQueue();
}

function remember(view) {
  state.requests.set(view.request_id, { ...state.requests.get(view.request_id), ...view });
  renderRequests();
}

// A stream event: the request's new status, attempt and outcome.
function apply(event) {
  const known = state.requests.get(event.request_id) ?? { request_id: event.request_id, payload: {}, accepted_at: event.at };
  remember({
    ...known,
    type: event.type,
    status: event.status,
    attempts: event.attempt,
    sequence: event.sequence ?? known.sequence,
    result: event.result ?? (event.status === "succeeded" ? known.result : null),
    error: event.error,
  });
}

let renderPending = false;
function renderRequests() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => {
    renderPending = false;
    const views = [...state.requests.values()].sort((a, b) => (a.sequence ?? Infinity) - (b.sequence ?? Infinity));
    const rows = views.slice(-SHOWN).map((v) =>
      el(
        "tr",
        { "data-request-id": v.request_id, "data-status": v.status },
        el("td", {}, v.sequence ?? ""),
        el("td", {}, v.type),
        el("td", {}, badge(v.status)),
        el("td", { class: "num" }, v.attempts),
        when(v.accepted_at),
        el("td", { class: "outcome" }, outcome(v)),
      ),
    );
    $("#requests tbody").replaceChildren(...rows);
    $("#requests-empty").hidden = rows.length > 0;
  });
}

let queueRefresh = null;
function queueChanged() {
  clearTimeout(queueRefresh);
  queueRefresh = setTimeout(() => refreshQueue().catch(() => {}), 200);
}

// Follow GET /v1/stream for as long as the session lasts; reconnect with the last event id.
async function follow() {
  const controller = new AbortController();
  state.stream = controller;
  let last = "";
  let wait = 500;
  while (!controller.signal.aborted && api.signedIn()) {
    try {
      live(true);
      for await (const message of api.stream(last, controller.signal, SseParser)) {
        if (message.event !== "request") continue;
        last = message.id ?? last;
        apply(JSON.parse(message.data));
        queueChanged();
        wait = 500;
      }
    } catch (error) {
      if (controller.signal.aborted) break;
      if (error.retryAfter) wait = error.retryAfter * 1000;
    }
    live(false);
    await new Promise((resolve) => setTimeout(resolve, wait));
    wait = Math.min(wait * 2, 10000);
  }
  live(false);
}

function live(on) {
  $("#live").textContent = on ? "Live: updates as they happen" : "Reconnecting…";
  $("#live-dot").classList.toggle("on", on);
}

function confirmed(question) {
  return window.confirm(question);
}

$("#pause").addEventListener("click", () =>
  act($("#pause"), async () => {
    await api.call("POST", "/v1/queue/pause");
    notify("Queue paused: new requests are accepted and wait.");
    await refreshQueue();
  }),
);
$("#resume").addEventListener("click", () =>
  act($("#resume"), async () => {
    await api.call("POST", "/v1/queue/resume");
    notify("Queue resumed.");
    await refreshQueue();
  }),
);
$("#purge").addEventListener("click", () => {
  if (!confirmed("Cancel every request still waiting to start?")) return;
  act($("#purge"), async () => {
    const purged = await api.call("POST", "/v1/queue/purge");
    notify(`${purged.cancelled.length} request(s) cancelled.`);
    await refreshQueue();
  });
});

// ---------- an operator ----------

const TABS = ["overview", "userq", "dead", "consumers"];
let currentTab = "overview";

function openTab(name) {
  currentTab = name;
  for (const tab of TABS) {
    const selected = tab === name;
    $(`#tab-${tab}`).setAttribute("aria-selected", String(selected));
    $(`#tab-${tab}`).tabIndex = selected ? 0 : -1;
    $(`#panel-${tab}`).hidden = !selected;
  }
  adminTimers.forEach(clearInterval);
  adminTimers = [];
  const refresh = { overview: loadOverview, userq: loadUserQueue, dead: loadDeadLetters, consumers: loadConsumers }[name];
  const run = () => refresh().catch(failed);
  run();
  adminTimers.push(setInterval(() => !$("#admin").hidden && run(), POLL_MS));
}
let adminTimers = [];

for (const tab of TABS) $(`#tab-${tab}`).addEventListener("click", () => openTab(tab));
$(".tabs").addEventListener("keydown", (event) => {
  const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
  if (!step) return;
  const next = TABS[(TABS.indexOf(currentTab) + step + TABS.length) % TABS.length];
  openTab(next);
  $(`#tab-${next}`).focus();
});

async function loadOverview() {
  const overview = await api.call("GET", `/v1/admin/queues?order=${$("#order").value}&limit=50`);
  facts($("#totals"), [
    ["Active queues", overview.active_queues],
    ["Pending requests", overview.pending_requests],
    ["Paused", overview.paused_queues],
    ["Held", overview.held_queues],
  ]);
  $("#queues tbody").replaceChildren(
    ...overview.queues.map((q) =>
      el(
        "tr",
        {},
        el("td", {}, q.username),
        el("td", { class: "num" }, q.depth),
        el("td", { class: "num" }, q.retrying),
        when(q.oldest_queued_at),
        el("td", {}, q.paused ? `by ${q.paused_by}` : ""),
        el("td", {}, q.hold ?? ""),
        el("td", {}, el("button", { type: "button", onclick: () => openUser(q.user_id) }, "Open ", el("span", { class: "visually-hidden" }, q.username))),
      ),
    ),
  );
}
$("#order").addEventListener("change", () => loadOverview().catch(failed));

function openUser(userId) {
  $("#userq-id").value = userId;
  openTab("userq");
}

function whyItWaits(view, page) {
  const { queue, held_by: heldBy } = page;
  if (view.request_id === heldBy) {
    return queue.hold === "halted" ? "dead letter halting the queue: redrive or discard it" : "waiting for its retry";
  }
  if (view.status === "processing") return "running";
  if (view.status === "retrying") return "waiting for its retry";
  const reasons = [];
  if (queue.paused) reasons.push(`queue paused by ${queue.paused_by === "admin" ? "an operator" : "the user"}`);
  if (heldBy) reasons.push(`held behind ${short(heldBy)} (${queue.hold})`);
  if (view.parked) return `parked: ${reasons.join("; ") || "behind the user's earlier parked requests"}`;
  return reasons.length ? reasons.join("; ") : "on its way to a worker";
}

async function loadUserQueue() {
  const userId = $("#userq-id").value.trim();
  $("#userq-actions").hidden = !userId;
  if (!userId) return;
  const page = await api.call("GET", `/v1/admin/queues/${encodeURIComponent(userId)}/requests?limit=200`);
  const { queue } = page;
  facts($("#userq-facts"), [
    ["State", queue.state],
    ["Depth", queue.depth],
    ["Paused", queue.paused ? `by ${queue.paused_by}` : "no"],
    ["Held", queue.hold ? `${queue.hold} by ${short(page.held_by)}` : "no"],
    ["Oldest waiting since", time(queue.oldest_queued_at) || "none waiting"],
  ]);
  $("#waiting tbody").replaceChildren(
    ...page.requests.map((v) =>
      el(
        "tr",
        { "data-request-id": v.request_id },
        el("td", {}, v.sequence),
        el("td", {}, v.type),
        el("td", {}, badge(v.status)),
        el("td", { class: "num" }, v.attempts),
        when(v.accepted_at),
        el("td", {}, whyItWaits(v, page)),
      ),
    ),
  );
}

$("#userq-form").addEventListener("submit", (event) => {
  event.preventDefault();
  loadUserQueue().catch(failed);
});

for (const action of ["pause", "resume", "purge"]) {
  const button = $(`#userq-${action}`);
  button.addEventListener("click", () => {
    const userId = $("#userq-id").value.trim();
    if (action === "purge" && !confirmed("Cancel every request of this user still waiting to start?")) return;
    act(button, async () => {
      await api.call("POST", `/v1/admin/queues/${encodeURIComponent(userId)}/${action}`);
      notify(`Queue of ${short(userId)}: ${action} done.`);
      await loadUserQueue();
    });
  });
}

async function loadDeadLetters() {
  const params = new URLSearchParams({ limit: "200" });
  const userId = $("#dead-user").value.trim();
  if (userId) params.set("user_id", userId);
  if ($("#dead-type").value) params.set("type", $("#dead-type").value);
  const page = await api.call("GET", `/v1/admin/dead-letters?${params}`);
  $("#redrive-user").hidden = !userId || page.dead_letters.length === 0;
  $("#dead-empty").hidden = page.dead_letters.length > 0;
  $("#dead tbody").replaceChildren(
    ...page.dead_letters.map((d) => {
      const redrive = el("button", { type: "button", class: "primary" }, "Redrive");
      const discard = el("button", { type: "button", class: "danger" }, "Discard");
      redrive.addEventListener("click", () =>
        act(redrive, async () => {
          await api.call("POST", `/v1/admin/dead-letters/${d.request_id}/redrive`);
          notify(`Dead letter ${short(d.request_id)} redriven into its user's order.`);
          await loadDeadLetters();
        }),
      );
      discard.addEventListener("click", () => {
        if (!confirmed("Discard this dead letter? It will not run.")) return;
        act(discard, async () => {
          await api.call("POST", `/v1/admin/dead-letters/${d.request_id}/discard`);
          notify(`Dead letter ${short(d.request_id)} discarded.`);
          await loadDeadLetters();
        });
      });
      return el(
        "tr",
        { "data-request-id": d.request_id },
        el("td", {}, el("button", { type: "button", class: "link", title: d.user_id, onclick: () => openUser(d.user_id) }, short(d.user_id))),
        el("td", {}, d.sequence),
        el("td", {}, d.type),
        el("td", {}, outcome(d)),
        el("td", { class: "num" }, d.attempts),
        when(d.first_failed_at),
        when(d.last_failed_at),
        el("td", { class: "actions" }, redrive, discard),
      );
    }),
  );
}

$("#dead-form").addEventListener("submit", (event) => {
  event.preventDefault();
  loadDeadLetters().catch(failed);
});
$("#redrive-user").addEventListener("click", () =>
  act($("#redrive-user"), async () => {
    const userId = $("#dead-user").value.trim();
    const batch = await api.call("POST", `/v1/admin/users/${encodeURIComponent(userId)}/dead-letters/redrive`);
    notify(`${batch.requests.length} dead letter(s) redriven.`);
    await loadDeadLetters();
  }),
);

async function loadConsumers() {
  const reading = await api.call("GET", "/v1/admin/consumers");
  $("#lag tbody").replaceChildren(
    ...reading.partitions.map((p) =>
      el(
        "tr",
        {},
        el("td", {}, p.topic),
        el("td", { class: "num" }, p.partition),
        el("td", { class: "num" }, p.end_offset),
        el("td", { class: "num" }, p.committed),
        el("td", { class: p.lag ? "num warn" : "num" }, p.lag),
      ),
    ),
  );
  // the rates: how the requests topic's offsets moved since the reading before
  const requestsTopic = reading.partitions[0]?.topic;
  const sum = (key) => reading.partitions.filter((p) => p.topic === requestsTopic).reduce((n, p) => n + p[key], 0);
  const sample = { at: Date.parse(reading.read_at), written: sum("end_offset"), read: sum("committed") };
  const before = state.samples.at(-1);
  state.samples = [sample];
  const rate = (key) => (before && sample.at > before.at ? ((sample[key] - before[key]) * 1000) / (sample.at - before.at) : null);
  const shown = (value) => (value === null ? "measuring…" : `${value.toFixed(1)}/s`);
  facts($("#rates"), [
    ["Consumer group", reading.group],
    ["Accepted", shown(rate("written"))],
    ["Read by the workers", shown(rate("read"))],
    ["Total lag", reading.partitions.reduce((n, p) => n + p.lag, 0)],
  ]);
  const links = [
    reading.grafana_url && el("a", { href: reading.grafana_url, rel: "noopener", target: "_blank" }, "Grafana dashboards"),
    reading.kafka_ui_url && el("a", { href: reading.kafka_ui_url, rel: "noopener", target: "_blank" }, "Kafka UI"),
  ].filter(Boolean);
  $("#links").replaceChildren(...(links.length ? links : [el("span", { class: "muted" }, "Set GRAFANA_URL and KAFKA_UI_URL for links to them.")]));
}

$("#username").focus();
