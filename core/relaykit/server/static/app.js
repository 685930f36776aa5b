// relaykit dashboard: live updates without a framework. Every element with `data-live` and an
// id is refreshed about once a second: the page is fetched again and those elements are swapped
// in. Open <details> stay open, and a run page stops polling once its run has ended.
(function () {
  "use strict";
  const INTERVAL_MS = 1000;

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
      if (!fresh || fresh.innerHTML === region.innerHTML) continue;
      const keep = openDetails(region);
      region.innerHTML = fresh.innerHTML;
      for (const name of fresh.getAttributeNames()) region.setAttribute(name, fresh.getAttribute(name));
      if (!fresh.hasAttribute("data-ended")) region.removeAttribute("data-ended");
      for (const row of region.querySelectorAll("[data-key]")) {
        if (keep.has(row.dataset.key)) row.querySelector("details")?.setAttribute("open", "");
      }
    }
    return true;
  }

  async function loop() {
    if (await refresh()) window.setTimeout(loop, INTERVAL_MS);
  }

  window.addEventListener("DOMContentLoaded", () => window.setTimeout(loop, INTERVAL_MS));
})();
