/* Keyboard shortcuts and small enhancements of the agent workspace. Everything works without it. */
(function () {
  "use strict";
  const QUEUE_KEY = "sd-queue";

  function typing(event) {
    const el = event.target;
    return el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
  }

  // --- Lists: j/k move, o/Enter open, x select; the visible order is remembered for next/previous.
  function queueRows() { return Array.from(document.querySelectorAll("[data-queue] [data-ticket-row]")); }
  let current = -1;
  function focusRow(index) {
    const rows = queueRows();
    if (!rows.length) return;
    current = Math.max(0, Math.min(rows.length - 1, index));
    rows.forEach((row, i) => row.classList.toggle("is-current", i === current));
    rows[current].scrollIntoView({ block: "nearest" });
    const link = rows[current].querySelector("a.ticket-link");
    if (link) link.focus({ preventScroll: true });
  }
  function rememberQueue() {
    const rows = queueRows();
    if (!rows.length) return;
    try { sessionStorage.setItem(QUEUE_KEY, JSON.stringify(rows.map((r) => r.dataset.href))); } catch (e) { /* private mode */ }
  }
  function neighbour(step) {
    let list = [];
    try { list = JSON.parse(sessionStorage.getItem(QUEUE_KEY) || "[]"); } catch (e) { list = []; }
    const here = list.indexOf(window.location.pathname);
    if (here < 0) return null;
    return list[here + step] || null;
  }

  // --- Select all on the page, and keep the selected rows highlighted.
  document.addEventListener("change", (event) => {
    const el = event.target;
    if (el.matches("[data-select-all]")) {
      queueRows().forEach((row) => {
        const box = row.querySelector("input[type=checkbox]");
        if (box) { box.checked = el.checked; row.classList.toggle("is-selected", el.checked); }
      });
      document.dispatchEvent(new CustomEvent("sd:selection"));
    } else if (el.matches("[data-ticket-row] input[type=checkbox]")) {
      el.closest("[data-ticket-row]").classList.toggle("is-selected", el.checked);
      document.dispatchEvent(new CustomEvent("sd:selection"));
    }
  });

  function activate(key) {
    const target = document.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (!target) return false;
    if (["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName)) { target.focus(); }
    else { target.click(); }
    return true;
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    const rows = queueRows();
    let handled = true;
    switch (event.key) {
      case "j": rows.length ? focusRow(current + 1) : (neighbour(1) ? (window.location = neighbour(1)) : (handled = false)); break;
      case "k": rows.length ? focusRow(current - 1) : (neighbour(-1) ? (window.location = neighbour(-1)) : (handled = false)); break;
      case "o": case "Enter":
        if (rows.length && current >= 0) { rememberQueue(); window.location = rows[current].dataset.href; } else { handled = false; }
        break;
      case "x":
        if (rows.length && current >= 0) { const box = rows[current].querySelector("input[type=checkbox]"); if (box) { box.click(); } } else { handled = false; }
        break;
      case "?": { const help = document.getElementById("shortcut-help"); if (help) help.hidden = !help.hidden; break; }
      default: handled = activate(event.key);
    }
    if (handled) event.preventDefault();
  });

  // Opening a ticket from a list remembers the list for j/k on the ticket page.
  document.addEventListener("click", (event) => {
    if (event.target.closest && event.target.closest("[data-queue] a.ticket-link")) rememberQueue();
  });

  // Countdown badges tick once a minute without a reload.
  function tick() {
    document.querySelectorAll("time[data-countdown]").forEach((el) => {
      const due = new Date(el.getAttribute("datetime"));
      const minutes = Math.round((due - new Date()) / 60000);
      const abs = Math.abs(minutes);
      const text = abs >= 1440 ? `${Math.floor(abs / 1440)}d ${Math.floor((abs % 1440) / 60)}h` : abs >= 60 ? `${Math.floor(abs / 60)}h ${abs % 60}m` : `${abs}m`;
      el.dataset.remaining = minutes < 0 ? `-${text}` : text;
      el.title = el.textContent;
    });
  }
  tick();
  setInterval(tick, 60000);
  window.ServiceDesk = { neighbour, rememberQueue };
})();

/* --- Bulk bar (issue 6, bulk-actions helper): how many are selected, and "all matching this list". --- */
(function () {
  "use strict";
  function rowBoxes() {
    return Array.from(document.querySelectorAll("[data-queue] [data-ticket-row] input[type=checkbox]"));
  }
  function update() {
    const form = document.querySelector("[data-bulk-bar]");
    if (!form) return;
    const boxes = rowBoxes();
    const selected = boxes.filter((box) => box.checked).length;
    const allOnPage = boxes.length > 0 && selected === boxes.length;
    const allBlock = form.querySelector("[data-bulk-all]");
    const allBox = form.querySelector("[data-bulk-all-box]");
    // "All matching" is offered once every ticket on the page is selected, and dropped when one is not.
    if (allBlock) allBlock.hidden = !allOnPage;
    if (allBox && !allOnPage) allBox.checked = false;
    const out = form.querySelector("[data-bulk-selected]");
    if (out) {
      out.hidden = false;
      if (allBox && allBox.checked) out.textContent = out.dataset.all;
      else if (selected) out.textContent = out.dataset.some.replace("__count__", String(selected));
      else out.textContent = out.dataset.none;
    }
    form.classList.toggle("has-selection", selected > 0);
    const selectAll = document.querySelector("[data-select-all]");
    if (selectAll) {
      selectAll.checked = allOnPage;
      selectAll.indeterminate = selected > 0 && !allOnPage;
    }
  }
  document.addEventListener("sd:selection", update);
  document.addEventListener("change", (event) => {
    if (event.target.matches && event.target.matches("[data-bulk-all-box]")) update();
  });
  // Browsers restore ticked boxes on back/forward navigation.
  window.addEventListener("pageshow", update);
  update();
})();
