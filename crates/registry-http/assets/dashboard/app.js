// The registry dashboard: reads GET /admin/dashboard (narrowed by the search and filters) and
// refetches it on every `revision` event of /admin/dashboard/events, and every few seconds for
// health, leases and sync state. Every value goes into the page as text, never as markup.
"use strict";

const POLL_MS = 5000;
const REFETCH_GAP_MS = 150;

const ui = {
  filters: { q: "", tenant: "", status: "", origin: "" },
  // Services the user folded (open by default) or unfolded (when folded by default).
  toggled: new Set(),
  recentTab: "registered",
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
  document.getElementById(id).replaceChildren(...children.flat());
}

function badge(text, cls) {
  return h("span", { class: "badge " + (cls || text) }, text);
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
  const out = [];
  let tenant = null;
  for (const s of d.services) {
    if (s.tenant !== tenant) {
      tenant = s.tenant;
      out.push(h("div", { class: "tenant" }, "Tenant " + tenant));
    }
    const key = serviceKey(s);
    const open = foldedByDefault === ui.toggled.has(key);
    const chips = Object.entries(s.by_status).map(([status, n]) => badge(`${status} ${n}`, status));
    const meta = [`app ${s.app}`, `v${s.version}`, s.environment || null, s.origin !== "local" ? `from ${s.origin}` : null].filter(Boolean).join(" · ");
    const head = h(
      "button",
      { type: "button", class: "service-head", "aria-expanded": open ? "true" : "false", "data-service": key },
      h("span", { class: "caret" }, "▸"),
      h("span", { class: "service-name" }, s.name),
      h("span", { class: "service-meta" }, meta),
      h("span", { class: "chips" }, chips),
    );
    const box = h("div", { class: "service" + (open ? " open" : "") }, head, h("div", { class: "instances" }, instanceTable(s, d.node.now_ms)));
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

function instanceTable(s, nowMs) {
  if (s.instances.length === 0) return h("div", { class: "empty" }, "No instances registered.");
  const rows = s.instances.map((i) =>
    h(
      "tr",
      { "data-instance": i.id },
      h("td", { class: "mono" }, i.id),
      h("td", {}, badge(i.status)),
      h("td", {}, i.host, i.ip && i.ip !== i.host ? h("div", { class: "muted mono" }, i.ip) : null),
      h("td", {}, i.region || h("span", { class: "muted" }, "—")),
      h("td", {}, i.zone || h("span", { class: "muted" }, "—")),
      h("td", { class: "endpoints mono" }, i.endpoints.length ? i.endpoints.map((e) => h("span", {}, e)) : h("span", { class: "muted" }, "—")),
      h("td", {}, i.origin === "local" ? badge("local", "idle") : badge(i.origin, "mirrored")),
      h("td", {}, when(i.registered_at_ms, nowMs)),
      h("td", {}, i.last_renewal_ms ? when(i.last_renewal_ms, nowMs) : h("span", { class: "muted" }, "—")),
      h("td", {}, i.lease_expires_ms ? until(i.lease_expires_ms, nowMs) : h("span", { class: "muted" }, "—")),
    ),
  );
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, ["Instance", "Status", "Host", "Region", "Zone", "Endpoints", "Origin", "Registered", "Last heartbeat", "Lease expires"].map((c) => h("th", {}, c)))),
    h("tbody", {}, rows),
  );
}

function renderCluster(d) {
  document.getElementById("cluster-term").textContent = `term ${d.node.term}`;
  const rows = d.members.map((m) =>
    h(
      "tr",
      { "data-node": m.id, class: m.this_node ? "self" : null },
      h(
        "td",
        {},
        h("div", { class: "nowrap" }, m.http_url && !m.this_node ? h("a", { href: m.http_url, title: "Open its dashboard" }, `node ${m.id}`) : `node ${m.id}`, m.this_node ? h("span", { class: "muted" }, " · this node") : null),
        h("div", { class: "muted mono" }, m.raft_addr),
      ),
      h("td", {}, badge(m.role)),
      h("td", { title: m.reason || "" }, badge(m.health), m.reason ? h("div", { class: "muted" }, m.reason) : null),
      h("td", { class: "mono" }, m.revision === null || m.revision === undefined ? "—" : number(m.revision)),
    ),
  );
  replace(
    "cluster",
    h("table", {}, h("thead", {}, h("tr", {}, ["Node", "Role", "Health", "Revision"].map((c) => h("th", {}, c)))), h("tbody", {}, rows)),
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
