// The registry dashboard: reads GET /admin/dashboard (narrowed by the search and filters) and
// refetches it on every `revision` event of /admin/dashboard/events, and every few seconds for
// health, leases and sync state. Every value goes into the page as text, never as markup.
// Its actions (out of service and back, metadata, deregister) are requests to the native API,
// /admin/registry/..., which the browser sends with the signed-in user's credentials; a refusal
// shows in the notice bar with the node's reason.
"use strict";

const POLL_MS = 5000;
const REFETCH_GAP_MS = 150;

const ui = {
  filters: { q: "", tenant: "", status: "", origin: "" },
  // Services the user folded (open by default) or unfolded (when folded by default).
  toggled: new Set(),
  recentTab: "registered",
  // The instance tables' order: a column's key and 1 (ascending) or -1.
  sort: { key: "id", dir: 1 },
  data: null,
  fetching: false,
  again: false,
  lastFetch: 0,
};

// Builds an element: h("td", { class: "x", title: "y" }, "text", child, ...).
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "onclick") el.addEventListener("click", v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function replace(id, ...children) {
  document.getElementById(id).replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

function badge(text, cls) {
  return h("span", { class: "badge " + (cls || text), title: text }, text);
}

function ago(ms, nowMs) {
  const s = Math.max(0, Math.round((nowMs - ms) / 1000));
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.floor(s / 60) + " min ago";
  if (s < 86400) return Math.floor(s / 3600) + " h ago";
  return Math.floor(s / 86400) + " d ago";
}

function when(ms, nowMs) {
  return h("span", { class: "when", title: new Date(ms).toLocaleString() }, ago(ms, nowMs));
}

// A time to come, as "in 42 s" (or "overdue" once past), with the full date as a tooltip.
function until(ms, nowMs) {
  const secs = Math.round((ms - nowMs) / 1000);
  const text = secs >= 0 ? `in ${duration(secs)}` : "overdue";
  return h("span", { class: "when", title: new Date(ms).toLocaleString() }, text);
}

function duration(secs) {
  const h_ = Math.floor(secs / 3600);
  const m = Math.floor((secs % 3600) / 60);
  return h_ > 0 ? `${h_} h ${m} min` : m > 0 ? `${m} min` : `${secs} s`;
}

function number(n) {
  return Number(n).toLocaleString("en-US");
}

// --- filters, kept in the address's hash so a reload or a shared link keeps them -------------

function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  for (const k of Object.keys(ui.filters)) {
    ui.filters[k] = params.get(k) || "";
    const input = document.getElementById(k);
    if (input) input.value = ui.filters[k];
  }
}

function writeHash() {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(ui.filters)) if (v) params.set(k, v);
  const hash = params.toString();
  history.replaceState(null, "", hash ? "#" + hash : location.pathname);
}

function query() {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(ui.filters)) if (v) params.set(k, v);
  return params.toString();
}

// --- fetching ---------------------------------------------------------------------------------

async function refresh() {
  if (ui.fetching) {
    ui.again = true;
    return;
  }
  ui.fetching = true;
  try {
    const wait = ui.lastFetch + REFETCH_GAP_MS - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    ui.lastFetch = Date.now();
    const res = await fetch("/admin/dashboard?" + query(), { headers: { Accept: "application/json" } });
    if (!res.ok) throw new Error("the node answered " + res.status);
    ui.data = await res.json();
    render(ui.data);
    setLive(true);
  } catch (e) {
    setLive(false, e.message);
  } finally {
    ui.fetching = false;
    if (ui.again) {
      ui.again = false;
      refresh();
    }
  }
}

let liveUpdates = false;

function setLive(ok, why) {
  const el = document.getElementById("live");
  el.className = "live " + (ok ? "on" : "off");
  document.getElementById("live-text").textContent = ok
    ? liveUpdates ? "live" : "polling"
    : "node unreachable" + (why ? ": " + why : "");
}

function listen() {
  if (!window.EventSource) return;
  const events = new EventSource("/admin/dashboard/events");
  events.addEventListener("revision", () => {
    liveUpdates = true;
    refresh();
  });
  events.onerror = () => {
    liveUpdates = false;
  };
}

// --- rendering ----------------------------------------------------------------------------------

function render(d) {
  renderHeader(d);
  renderBanners(d);
  renderCards(d);
  renderChoices(d);
  renderServices(d);
  renderCluster(d);
  renderLeases(d);
  renderSync(d);
  renderWorkers(d);
  renderRecent(d);
}

function renderHeader(d) {
  const n = d.node;
  replace(
    "where",
    h("b", {}, n.cluster_name),
    ` · node ${n.id} `,
    badge(n.role),
    ` · term ${n.term} · revision ${number(d.revision)} · up ${duration(n.uptime_secs)} · v${n.version}`,
  );
  const viewer = d.viewer;
  replace("viewer", viewer ? [h("span", { class: "muted-dark" }, "signed in as "), h("b", {}, viewer.name), ` (${viewer.role})`] : []);
  document.getElementById("viewer").title = viewer && viewer.role === "read" ? "A read-only user: changes are refused" : "";
}

function renderBanners(d) {
  const banners = [];
  if (d.leases && d.leases.banner) banners.push(h("div", { class: "banner", role: "alert" }, d.leases.banner));
  if (!d.node.leader_id) banners.push(h("div", { class: "banner warn" }, "No leader is known: writes are refused until the cluster elects one."));
  replace("banners", banners);
}

function card(label, value, sub) {
  return h("div", { class: "card" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value), sub ? h("div", { class: "sub" }, sub) : null);
}

function renderCards(d) {
  const t = d.totals;
  const up = t.by_status.UP || 0;
  const healthy = d.members.filter((m) => m.health === "UP").length;
  const mirrored = t.instances - (t.by_origin.local || 0);
  const cards = [
    card("Instances", number(t.instances), `${number(up)} up · ${number(t.instances - up)} not up`),
    card("Services", number(t.services), `${number(t.tenants)} tenant${t.tenants === 1 ? "" : "s"}`),
    card("Nodes", `${healthy} / ${d.members.length}`, "healthy"),
    card("Mirrored", number(mirrored), `from ${Object.keys(t.by_origin).filter((o) => o !== "local").length} peer(s)`),
  ];
  if (d.leases) {
    cards.push(card("Renewals (last min)", number(d.leases.renewals_last_window), `threshold ${number(d.leases.threshold)}`));
  }
  replace("cards", cards);
}

function fillSelect(id, values, anyLabel) {
  const select = document.getElementById(id);
  const current = ui.filters[id];
  const all = values.includes(current) || !current ? values : values.concat([current]);
  select.replaceChildren(h("option", { value: "" }, anyLabel), ...all.map((v) => h("option", { value: v }, v)));
  select.value = current;
}

function renderChoices(d) {
  fillSelect("tenant", d.choices.tenants, "All tenants");
  fillSelect("status", d.choices.statuses, "Any status");
  fillSelect("origin", ["local"].concat(d.choices.origins.filter((o) => o !== "local")), "Any origin");
}

function serviceKey(s) {
  return s.tenant + "/" + s.id;
}

// --- sorting ------------------------------------------------------------------------------------

// Compares as people read ids: runs of digits by their value (inv-2 before inv-10), the rest by
// character, case-insensitively.
function naturalCompare(a, b) {
  const x = String(a ?? "").toLowerCase();
  const y = String(b ?? "").toLowerCase();
  let i = 0;
  let j = 0;
  while (i < x.length && j < y.length) {
    const cx = x[i];
    const cy = y[j];
    if (isDigit(cx) && isDigit(cy)) {
      let ei = i;
      let ej = j;
      while (ei < x.length && isDigit(x[ei])) ei++;
      while (ej < y.length && isDigit(y[ej])) ej++;
      const nx = x.slice(i, ei).replace(/^0+/, "");
      const ny = y.slice(j, ej).replace(/^0+/, "");
      if (nx.length !== ny.length) return nx.length - ny.length;
      if (nx !== ny) return nx < ny ? -1 : 1;
      i = ei;
      j = ej;
    } else {
      if (cx !== cy) return cx < cy ? -1 : 1;
      i++;
      j++;
    }
  }
  return x.length - i - (y.length - j) || (a < b ? -1 : a > b ? 1 : 0);
}

function isDigit(c) {
  return c >= "0" && c <= "9";
}

// The instance table's columns: label, the value it sorts by (null: not sortable), its class.
const INSTANCE_COLUMNS = [
  { key: "id", label: "Instance", value: (i) => i.id, cls: "c-id" },
  { key: "status", label: "Status", value: (i) => i.status, cls: "c-status" },
  { key: "host", label: "Host · zone", title: "Host (and IP), zone and region", value: (i) => i.host, cls: "c-host" },
  { key: "endpoints", label: "Endpoints", value: (i) => i.endpoints.join(" "), cls: "c-endpoints" },
  { key: "heartbeat", label: "Heartbeat", title: "The last heartbeat the leader took", value: (i) => i.last_renewal_ms ?? -1, cls: "c-time" },
  { key: "expires", label: "Expires", title: "When the lease expires unless renewed (the leader's clock)", value: (i) => i.lease_expires_ms ?? -1, cls: "c-time" },
  { key: null, label: "Actions", cls: "c-actions" },
];

function sortInstances(list) {
  const column = INSTANCE_COLUMNS.find((c) => c.key === ui.sort.key) || INSTANCE_COLUMNS[0];
  const out = list.slice();
  out.sort((a, b) => {
    const [x, y] = [column.value(a), column.value(b)];
    const by = typeof x === "number" ? x - y : naturalCompare(x, y);
    return ui.sort.dir * (by || naturalCompare(a.id, b.id));
  });
  return out;
}

function sortBy(key) {
  if (ui.sort.key === key) ui.sort.dir = -ui.sort.dir;
  else ui.sort = { key, dir: 1 };
  if (ui.data) renderServices(ui.data);
}

// --- registry -----------------------------------------------------------------------------------

function renderServices(d) {
  const shown = d.services.length;
  const filtered = Object.values(ui.filters).some((v) => v);
  let count = `${number(d.matching_instances)} instance${d.matching_instances === 1 ? "" : "s"} in ${number(shown)} service${shown === 1 ? "" : "s"}`;
  if (d.listed_instances < d.matching_instances) count += ` (first ${number(d.listed_instances)} listed: narrow the search)`;
  document.getElementById("registry-count").textContent = count;
  if (shown === 0) {
    replace("services", h("div", { class: "empty" }, filtered ? "No service or instance matches the search." : "No instances available."));
    return;
  }
  // Many services: folded unless opened; few: open unless folded.
  const foldedByDefault = shown > 30;
  const narrowed = Boolean(ui.filters.q || ui.filters.status || ui.filters.origin);
  const out = [];
  let tenant = null;
  for (const s of d.services) {
    if (s.tenant !== tenant) {
      tenant = s.tenant;
      out.push(h("div", { class: "tenant" }, "Tenant " + tenant));
    }
    const key = serviceKey(s);
    const open = foldedByDefault === ui.toggled.has(key);
    // The badges count what the filters admit; the service's whole count follows when it differs.
    const chips = Object.entries(s.matching_by_status).map(([status, n]) => badge(`${status} ${n}`, status));
    const all = Object.values(s.by_status).reduce((a, b) => a + b, 0);
    const matching = Object.values(s.matching_by_status).reduce((a, b) => a + b, 0);
    if (narrowed && matching !== all) chips.push(h("span", { class: "muted", title: Object.entries(s.by_status).map(([k, v]) => `${k} ${v}`).join(", ") }, `of ${number(all)}`));
    const meta = [`app ${s.app}`, `v${s.version}`, s.environment || null, s.origin !== "local" ? `from ${s.origin}` : null].filter(Boolean).join(" · ");
    const head = h(
      "button",
      { type: "button", class: "service-head", "aria-expanded": open ? "true" : "false", "data-service": key },
      h("span", { class: "caret" }, "▸"),
      h("span", { class: "service-name", title: s.name }, s.name),
      h("span", { class: "service-meta", title: meta }, meta),
      h("span", { class: "chips" }, chips),
    );
    const box = h("div", { class: "service" + (open ? " open" : ""), "data-service-box": key }, head, h("div", { class: "instances" }, instanceTable(s, d)));
    head.addEventListener("click", () => {
      if (ui.toggled.has(key)) ui.toggled.delete(key);
      else ui.toggled.add(key);
      const nowOpen = !box.classList.contains("open");
      box.classList.toggle("open", nowOpen);
      head.setAttribute("aria-expanded", nowOpen ? "true" : "false");
    });
    out.push(box);
  }
  replace("services", out);
}

// A cell's text cut to one line, the whole of it in the tooltip.
function cut(text, cls) {
  return h("div", { class: "cut " + (cls || ""), title: text }, text);
}

function dash() {
  return h("span", { class: "muted" }, "—");
}

function instanceTable(s, d) {
  const nowMs = d.node.now_ms;
  if (s.instances.length === 0) return h("div", { class: "empty" }, "No instances registered.");
  const rows = sortInstances(s.instances).map((i) =>
    h(
      "tr",
      { "data-instance": i.id },
      h(
        "td",
        {},
        cut(i.id, "mono strong"),
        i.origin === "local"
          ? h("div", { class: "muted cut", title: new Date(i.registered_at_ms).toLocaleString() }, "registered ", ago(i.registered_at_ms, nowMs))
          : h("div", { class: "cut" }, badge(i.origin, "mirrored")),
      ),
      h("td", {}, badge(i.status), i.status_override ? h("div", { class: "muted", title: "An operator's override: the instance's own reports do not change it" }, "override") : null),
      h("td", {}, cut(i.host), i.ip && i.ip !== i.host ? cut(i.ip, "muted mono") : null, i.zone || i.region ? cut([i.zone, i.region].filter(Boolean).join(" · "), "muted") : null),
      h("td", { class: "mono" }, i.endpoints.length ? i.endpoints.map((e) => cut(e)) : dash()),
      h("td", {}, i.last_renewal_ms ? when(i.last_renewal_ms, nowMs) : i.origin === "local" ? h("span", { class: "muted", title: "The leader has had no heartbeat from it since it registered (or took over)" }, "none yet") : dash()),
      h("td", {}, i.lease_expires_ms ? until(i.lease_expires_ms, nowMs) : dash()),
      h("td", {}, actions(s, i)),
    ),
  );
  const heads = INSTANCE_COLUMNS.map((c) => {
    if (!c.key) return h("th", { class: c.cls, scope: "col" }, c.label);
    const active = ui.sort.key === c.key;
    const button = h("button", { type: "button", class: "sort", "data-sort": c.key, title: `${c.title || c.label}: click to sort` }, c.label, h("span", { class: "arrow" }, active ? (ui.sort.dir > 0 ? " ▲" : " ▼") : ""));
    button.addEventListener("click", () => sortBy(c.key));
    return h("th", { class: c.cls, scope: "col", "aria-sort": active ? (ui.sort.dir > 0 ? "ascending" : "descending") : "none" }, button);
  });
  return h(
    "table",
    { class: "instance-table" },
    h("colgroup", {}, INSTANCE_COLUMNS.map((c) => h("col", { class: c.cls }))),
    h("thead", {}, h("tr", {}, heads)),
    h("tbody", {}, rows),
  );
}

// --- actions ------------------------------------------------------------------------------------

function actions(s, i) {
  if (i.origin !== "local") return h("span", { class: "muted", title: `Mirrored from ${i.origin}: change it there` }, "at its origin");
  const out = i.status === "OUT_OF_SERVICE";
  const button = (action, label, title, onclick, cls) => {
    const b = h("button", { type: "button", class: "act " + (cls || ""), "data-action": action, title }, label);
    b.addEventListener("click", onclick);
    return b;
  };
  return h(
    "div",
    { class: "actions" },
    out
      ? button("in-service", "Put back", "Back in service: status UP, the override removed", () => setStatus(s, i, "UP"))
      : button("out-of-service", "Take out", "Take out of service: status OUT_OF_SERVICE (clients stop getting it)", () => setStatus(s, i, "OUT_OF_SERVICE")),
    button("metadata", "Metadata", "Edit its metadata", () => editMetadata(s, i)),
    button("deregister", "Deregister", "Remove it from the registry", () => confirmDeregister(s, i), "danger"),
  );
}

function instancePath(s, i, suffix) {
  const tenant = new URLSearchParams({ tenant: s.tenant }).toString();
  return `/admin/registry/instances/${encodeURIComponent(s.id)}/${encodeURIComponent(i.id)}${suffix}?${tenant}`;
}

// Sends one change to the native API (the browser adds the signed-in user's credentials);
// resolves with the answer, or throws an error whose message says why it was refused.
async function send(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new Error("the node could not be reached: " + e.message);
  }
  let answer = null;
  try {
    answer = await res.json();
  } catch (_) {
    answer = null;
  }
  if (res.ok) return answer;
  const why = (answer && (answer.error || answer.message)) || res.statusText || "no reason given";
  if (res.status === 401) throw new Error(`Not signed in (401): ${why}. Reload the page to sign in.`);
  if (res.status === 403) throw new Error(`Refused (403): ${why}. Ask for a user with the write role.`);
  throw new Error(`Failed (${res.status}): ${why}`);
}

function notify(text, ok) {
  const el = document.getElementById("notice");
  el.className = "notice " + (ok ? "ok" : "fail");
  el.setAttribute("role", ok ? "status" : "alert");
  el.replaceChildren(h("span", {}, text), h("button", { type: "button", class: "close", title: "Dismiss", "aria-label": "Dismiss", onclick: () => { el.className = "notice"; el.replaceChildren(); } }, "×"));
}

// Sends a change; says in the notice bar what was done (`done`) or why `failed` could not be.
async function act(done, failed, method, path, body) {
  try {
    const answer = await send(method, path, body);
    notify(`${done}${answer && answer.revision ? ` (revision ${number(answer.revision)})` : ""}.`, true);
    refresh();
    return true;
  } catch (e) {
    notify(`${failed}: ${e.message}`, false);
    return false;
  }
}

function setStatus(s, i, status) {
  return status === "UP"
    ? act(`${i.id} put back in service`, `Could not put ${i.id} back in service`, "PUT", instancePath(s, i, "/status"), { status })
    : act(`${i.id} taken out of service`, `Could not take ${i.id} out of service`, "PUT", instancePath(s, i, "/status"), { status });
}

// The dialog: a title, a text, optionally a text area, and a confirming button.
function openDialog({ title, text, area, confirm, danger, onConfirm }) {
  const dialog = document.getElementById("dialog");
  document.getElementById("dialog-title").textContent = title;
  document.getElementById("dialog-text").textContent = text;
  const textarea = document.getElementById("dialog-area");
  textarea.hidden = area === undefined;
  textarea.value = area || "";
  const error = document.getElementById("dialog-error");
  error.textContent = "";
  const ok = document.getElementById("dialog-ok");
  ok.textContent = confirm;
  ok.className = danger ? "danger" : "primary";
  ok.onclick = async () => {
    error.textContent = "";
    ok.disabled = true;
    try {
      const done = await onConfirm(textarea.value, (why) => (error.textContent = why));
      if (done) dialog.close();
    } finally {
      ok.disabled = false;
    }
  };
  dialog.showModal();
  if (area !== undefined) textarea.focus();
}

// Metadata as `key=value` lines, and back; an error names the first line that is not one.
function metadataText(m) {
  return Object.entries(m || {}).map(([k, v]) => `${k}=${v}`).join("\n");
}

function parseMetadata(text) {
  const out = {};
  const lines = text.split("\n");
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].trim();
    if (!line) continue;
    const at = line.indexOf("=");
    if (at <= 0) throw new Error(`line ${n + 1} is not key=value: ${line}`);
    out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return out;
}

function editMetadata(s, i) {
  openDialog({
    title: `Metadata of ${i.id}`,
    text: `Service ${s.name}, tenant ${s.tenant}. One key=value a line; the map replaces the instance's.`,
    area: metadataText(i.metadata),
    confirm: "Save",
    onConfirm: async (text, fail) => {
      let metadata;
      try {
        metadata = parseMetadata(text);
      } catch (e) {
        fail(e.message);
        return false;
      }
      const done = await act(`Metadata of ${i.id} saved`, `Could not save the metadata of ${i.id}`, "PUT", instancePath(s, i, "/metadata"), { metadata, replace: true });
      if (!done) fail(document.getElementById("notice").textContent.replace(/×$/, ""));
      return done;
    },
  });
}

function confirmDeregister(s, i) {
  openDialog({
    title: `Deregister ${i.id}?`,
    text: `It leaves ${s.name} at once; a client still running registers it again at its next heartbeat.`,
    confirm: "Deregister",
    danger: true,
    onConfirm: async (_, fail) => {
      const done = await act(`${i.id} deregistered`, `Could not deregister ${i.id}`, "DELETE", instancePath(s, i, ""));
      if (!done) fail(document.getElementById("notice").textContent.replace(/×$/, ""));
      return done;
    },
  });
}

// --- cluster ------------------------------------------------------------------------------------

function reachability(m, d) {
  if (d.replication_seen_by === null || d.replication_seen_by === undefined) return h("span", { class: "muted", title: d.replication_error || "" }, "unknown");
  if (m.id === d.replication_seen_by) return h("span", { class: "muted" }, "leader");
  const answered = m.last_answer_ms === null || m.last_answer_ms === undefined ? "never answered" : `answered ${duration(Math.round(m.last_answer_ms / 1000))} ago`;
  const state = m.reachable === true ? badge("reachable", "UP") : m.reachable === false ? badge("unreachable", "DOWN") : badge("unknown", "idle");
  const lag = m.lag === null || m.lag === undefined ? null : h("div", { class: "muted", title: "Log entries it trails the leader by" }, `lag ${number(m.lag)}`);
  return h("span", { title: answered }, state, m.reachable === false ? h("div", { class: "muted" }, answered) : lag);
}

function renderCluster(d) {
  document.getElementById("cluster-term").textContent =
    d.replication_seen_by ? `term ${d.node.term} · as node ${d.replication_seen_by} (leader) sees it` : `term ${d.node.term}`;
  const rows = d.members.map((m) =>
    h(
      "tr",
      { "data-node": m.id, class: m.this_node ? "self" : null },
      h(
        "td",
        {},
        h(
          "div",
          { class: "cut" },
          m.http_url && !m.this_node ? h("a", { href: m.http_url, title: "Open its dashboard" }, `node ${m.id}`) : h("b", { title: "This node: the one serving this page" }, `node ${m.id}`),
          " ",
          badge(m.role),
        ),
        cut(m.raft_addr, "muted mono"),
      ),
      h(
        "td",
        { title: m.reason || "" },
        badge(m.health),
        m.reason ? cut(m.reason, "muted") : null,
        m.revision === null || m.revision === undefined ? null : h("div", { class: "muted", title: "Its applied revision" }, `revision ${number(m.revision)}`),
      ),
      h("td", { class: "reach" }, reachability(m, d)),
    ),
  );
  replace(
    "cluster",
    h(
      "table",
      { class: "cluster-table" },
      h("colgroup", {}, ["c-node", "c-health", "c-reach"].map((c) => h("col", { class: c }))),
      h("thead", {}, h("tr", {}, ["Node", "Health", "Leader sees"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows),
    ),
    d.replication_error ? h("div", { class: "muted" }, `Reachability and lag unknown: ${d.replication_error}`) : null,
  );
}

function renderLeases(d) {
  const l = d.leases;
  if (!l) {
    document.getElementById("leases-node").textContent = "";
    replace("leases", h("div", { class: "error" }, d.leases_error || "Lease state unknown."));
    return;
  }
  document.getElementById("leases-node").textContent = `kept by node ${l.node_id} (leader)`;
  const yes = (b) => badge(b ? "on" : "off", b ? "on" : "idle");
  const rows = [
    ["Lease expiration enabled", yes(l.expiry_enabled)],
    ["Self-preservation mode", yes(l.self_preservation)],
    ["Guard rule", l.rule],
    ["Tenants held (mass expiry)", l.held_tenants && l.held_tenants.length ? l.held_tenants.join(", ") : "none"],
    ["Renews threshold", number(l.threshold)],
    [`Renews (last ${l.window_secs === 60 ? "min" : l.window_secs + " s"})`, number(l.renewals_last_window)],
    ["Instances holding a lease", number(l.leases)],
    ["Renewal percent threshold", Math.round(l.renewal_percent_threshold * 100) + " %"],
  ];
  replace("leases", h("table", { class: "kv" }, h("tbody", {}, rows.map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", {}, v))))));
}

function renderSync(d) {
  const s = d.sync || {};
  document.getElementById("sync-cluster").textContent = s.cluster_name ? `this cluster: ${s.cluster_name}` : "";
  const peers = s.peers || [];
  if (peers.length === 0) {
    replace("sync", h("div", { class: "empty" }, "No peers configured: this cluster does not federate."));
    return;
  }
  const rows = peers.map((p) =>
    h(
      "tr",
      { "data-peer": p.name },
      h("td", {}, h("div", {}, p.name), h("div", { class: "muted" }, `${p.kind} · ${p.direction}`)),
      h("td", { title: p.reason || p.last_error || "" }, badge(p.state), p.last_error ? h("div", { class: "muted error" }, p.last_error) : null),
      h("td", {}, p.lag_ms === null || p.lag_ms === undefined ? "—" : duration(Math.round(p.lag_ms / 1000))),
      h("td", {}, `${number(p.imported.mirrored)} in · ${number(p.exported.exported)} out`),
    ),
  );
  replace("sync", h("table", {}, h("thead", {}, h("tr", {}, ["Peer", "State", "Lag", "Instances"].map((c) => h("th", {}, c)))), h("tbody", {}, rows)));
}

function renderWorkers(d) {
  const workers = d.workers || [];
  if (workers.length === 0) {
    replace("workers", h("div", { class: "empty" }, "No workers reported."));
    return;
  }
  const tone = { running: "on", stopping: "starting", stopped: "idle", failed: "failing" };
  const rows = workers.map((w) =>
    h(
      "tr",
      { "data-worker": w.name },
      h("td", {}, cut(w.name, "mono")),
      h("td", { title: w.last_error || "" }, badge(w.state, tone[w.state] || "idle"), w.last_error ? h("div", { class: "muted error" }, w.last_error) : null),
      h("td", {}, w.last_activity_ms ? ago(w.last_activity_ms, d.node.now_ms) : "—"),
    ),
  );
  replace("workers", h("table", {}, h("thead", {}, h("tr", {}, ["Worker", "State", "Last activity"].map((c) => h("th", {}, c)))), h("tbody", {}, rows)));
}

function renderRecent(d) {
  const list = ui.recentTab === "registered" ? d.recent_registrations : d.recent_cancellations;
  document.getElementById("tab-registered").setAttribute("aria-selected", ui.recentTab === "registered" ? "true" : "false");
  document.getElementById("tab-cancelled").setAttribute("aria-selected", ui.recentTab === "cancelled" ? "true" : "false");
  if (list.length === 0) {
    replace("recent", h("div", { class: "empty" }, ui.recentTab === "registered" ? "No registrations yet." : "No cancellations yet."));
    return;
  }
  const items = list.map((a) =>
    h(
      "li",
      {},
      h("span", {}, h("b", {}, a.service), " ", h("span", { class: "mono" }, `(${a.instance_id})`), a.origin !== "local" ? h("span", { class: "muted" }, ` from ${a.origin}`) : null),
      when(a.at_ms, d.node.now_ms),
    ),
  );
  replace("recent", h("div", { class: "recent" }, h("ul", {}, items)));
}

// --- wiring -------------------------------------------------------------------------------------

function wire() {
  let typing = null;
  document.getElementById("q").addEventListener("input", (e) => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      ui.filters.q = e.target.value.trim();
      writeHash();
      refresh();
    }, 200);
  });
  for (const id of ["tenant", "status", "origin"]) {
    document.getElementById(id).addEventListener("change", (e) => {
      ui.filters[id] = e.target.value;
      writeHash();
      refresh();
    });
  }
  document.getElementById("filters").addEventListener("submit", (e) => e.preventDefault());
  for (const tab of ["registered", "cancelled"]) {
    document.getElementById("tab-" + tab).addEventListener("click", () => {
      ui.recentTab = tab;
      if (ui.data) renderRecent(ui.data);
    });
  }
  document.getElementById("dialog-cancel").addEventListener("click", () => document.getElementById("dialog").close());
  window.addEventListener("hashchange", () => {
    readHash();
    refresh();
  });
}

readHash();
wire();
listen();
refresh();
setInterval(refresh, POLL_MS);
