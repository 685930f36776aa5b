// relaykit dashboard: live updates without a framework. Every element with `data-live` and an
// id is refreshed when something in it changed: the page is fetched again and those elements
// are swapped in. A region with `data-stream` learns of changes from the server's event stream
// (/api/v1/runs/.../stream); without one, or when the stream fails, the page is polled about
// once a second. Open <details> stay open; a run page stops once its run has ended.
// Times (<time datetime="ISO">) are shown in local time with how long ago ("2 min ago"), the
// ISO in their title; forms with data-confirm ask before they are sent.
(function () {
  "use strict";
  const INTERVAL_MS = 1000;

  function ago(seconds) {
    const future = seconds < 0;
    const s = Math.abs(seconds);
    let text;
    if (s < 45) text = Math.round(s) + " s";
    else if (s < 45 * 60) text = Math.round(s / 60) + " min";
    else if (s < 36 * 3600) text = Math.round(s / 3600) + " h";
    else text = Math.round(s / 86400) + " d";
    return future ? "in " + text : text + " ago";
  }

  function localTimes(root) {
    for (const el of root.querySelectorAll("time[datetime]")) {
      const when = new Date(el.getAttribute("datetime"));
      if (Number.isNaN(when.getTime())) continue;
      const local = when.toLocaleString(undefined, {
        year: "numeric", month: "short", day: "numeric",
        hour: "2-digit", minute: "2-digit", second: "2-digit",
      });
      el.textContent = local;
      const rel = document.createElement("span");
      rel.className = "ago";
      rel.textContent = ago((Date.now() - when.getTime()) / 1000);
      el.appendChild(rel);
      el.title = el.getAttribute("datetime");
    }
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });

  function openDetails(root) {
    return new Set(Array.from(root.querySelectorAll("details[open]"), (d) => d.closest("[data-key]")?.dataset.key).filter(Boolean));
  }

  async function refresh() {
    const regions = document.querySelectorAll("[data-live][id]");
    if (regions.length === 0) return false;
    if (Array.from(regions).every((r) => r.hasAttribute("data-ended"))) return false;
    if (document.hidden) return true;
    let response;
    try {
      response = await fetch(window.location.href, { headers: { "X-Relaykit-Live": "1" }, credentials: "same-origin" });
    } catch (err) {
      return true; // the server is restarting (dev reload): try again next tick
    }
    if (response.status === 401) { window.location.reload(); return false; }
    if (!response.ok) return true;
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const region of regions) {
      const fresh = doc.getElementById(region.id);
      if (!fresh) continue;
      // compare with what the server sent last time: this page's times were rewritten locally
      if (fresh.innerHTML === region.dataset.served) continue;
      region.dataset.served = fresh.innerHTML;
      const keep = openDetails(region);
      region.innerHTML = fresh.innerHTML;
      localTimes(region);
      for (const name of fresh.getAttributeNames()) region.setAttribute(name, fresh.getAttribute(name));
      if (!fresh.hasAttribute("data-ended")) region.removeAttribute("data-ended");
      for (const row of region.querySelectorAll("[data-key]")) {
        if (keep.has(row.dataset.key)) row.querySelector("details")?.setAttribute("open", "");
      }
    }
    return true;
  }

  let polling = false;
  async function loop() {
    if (await refresh()) window.setTimeout(loop, INTERVAL_MS);
    else polling = false;
  }
  function poll() {
    if (polling) return;
    polling = true;
    window.setTimeout(loop, INTERVAL_MS);
  }

  // A region with data-stream="URL" follows the server-sent events there instead of polling:
  // each run/task/log/metadata/remove event refreshes the regions once (events arriving together are
  // taken as one), and "end" (the run ended) closes the stream. If the stream cannot be
  // opened or keeps failing, the page falls back to polling.
  const SETTLE_MS = 100;
  const STREAM_FAILURES = 3;
  let pending = null;
  function changed() {
    if (pending !== null) return;
    pending = window.setTimeout(async () => {
      pending = null;
      await refresh();
    }, SETTLE_MS);
  }

  function follow(region) {
    const url = region.dataset.stream;
    if (!url || typeof window.EventSource !== "function") return false;
    const source = new EventSource(url);
    let failures = 0;
    for (const kind of ["run", "task", "log", "metadata", "remove"]) {
      source.addEventListener(kind, () => { failures = 0; changed(); });
    }
    source.addEventListener("end", () => { source.close(); changed(); });
    source.addEventListener("error", () => {
      failures += 1;
      if (source.readyState === EventSource.CLOSED || failures >= STREAM_FAILURES) {
        source.close();
        poll();
      }
    });
    window.addEventListener("pagehide", () => source.close());
    return true;
  }

  window.addEventListener("DOMContentLoaded", () => {
    const regions = Array.from(document.querySelectorAll("[data-live][id]"));
    for (const region of regions) region.dataset.served = region.innerHTML;
    localTimes(document);
    const live = regions.filter((r) => !r.hasAttribute("data-ended"));
    if (live.length === 0) return;
    // the other live regions of a streamed page (a run's tokens) change with what the
    // stream reports, and are refreshed with it
    const streamed = live.filter((r) => r.dataset.stream);
    if (streamed.length === 0 || !streamed.map(follow).every(Boolean)) poll();
  });
})();
