/* Knowledge base suggestions while a customer types a ticket subject (portal).
 *
 * Progressive: the page works without this file. It attaches to
 *  - the input named by data-kb-input of every [data-kb-suggest-box] (templates/knowledge/_suggestions.html),
 *  - any input with a data-kb-suggest attribute (its value, if any, is the suggestion URL).
 * Typing (debounced) GETs <url>?q=<text>&subject_field=<name> and shows the returned HTML fragment in
 * the box; a visually hidden live region announces how many articles were found.
 * No inline script, no dependencies (CSP-friendly).
 */
(function () {
  "use strict";
  if (window.kbSuggestLoaded) { return; }
  window.kbSuggestLoaded = true;

  var DELAY_MS = 300;
  var MIN_CHARS = 3;
  var DEFAULT_URL = "/portal/kb/suggest/";

  function boxFor(input) {
    var form = input.form;
    var box = form ? form.querySelector("[data-kb-suggest-box]") : null;
    if (box) { return box; }
    box = document.createElement("div");
    box.className = "kb-suggest";
    box.setAttribute("data-kb-suggest-box", "");
    var status = document.createElement("p");
    status.className = "visually-hidden kb-suggest-status";
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    status.setAttribute("aria-atomic", "true");
    var results = document.createElement("div");
    results.className = "kb-suggest-results";
    box.appendChild(status);
    box.appendChild(results);
    input.insertAdjacentElement("afterend", box);
    return box;
  }

  function attach(input, box) {
    if (!input || input.dataset.kbSuggestAttached) { return; }
    input.dataset.kbSuggestAttached = "1";
    box = box || boxFor(input);
    var url = input.getAttribute("data-kb-suggest") || box.getAttribute("data-kb-suggest-url") || DEFAULT_URL;
    var field = box.getAttribute("data-kb-subject-field") || input.name || "subject";
    var results = box.querySelector(".kb-suggest-results");
    var status = box.querySelector(".kb-suggest-status");
    if (results.id) { input.setAttribute("aria-controls", results.id); }
    var timer = null;
    var controller = null;
    var lastQuery = null;

    function show(html) {
      results.innerHTML = html;
      var found = results.querySelector("[data-kb-status]");
      var text = found ? found.getAttribute("data-kb-status") : "";
      if (status && status.textContent !== text) { status.textContent = text; }
    }

    function run() {
      var query = input.value.trim();
      if (query === lastQuery) { return; }
      lastQuery = query;
      if (query.length < MIN_CHARS) { show(""); return; }
      if (controller) { controller.abort(); }
      controller = window.AbortController ? new AbortController() : null;
      var target = url + (url.indexOf("?") === -1 ? "?" : "&") +
        "q=" + encodeURIComponent(query) + "&subject_field=" + encodeURIComponent(field);
      fetch(target, {
        credentials: "same-origin",
        headers: { "Accept": "text/html", "X-Requested-With": "fetch" },
        signal: controller ? controller.signal : undefined
      }).then(function (response) {
        return response.ok ? response.text() : "";
      }).then(show).catch(function (error) {
        if (!error || error.name !== "AbortError") { show(""); }
      });
    }

    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(run, DELAY_MS);
    });
    if (input.value.trim().length >= MIN_CHARS) { run(); }
  }

  function init() {
    var boxes = document.querySelectorAll("[data-kb-suggest-box]");
    Array.prototype.forEach.call(boxes, function (box) {
      var id = box.getAttribute("data-kb-input");
      if (id) { attach(document.getElementById(id), box); }
    });
    var inputs = document.querySelectorAll("input[data-kb-suggest], textarea[data-kb-suggest]");
    Array.prototype.forEach.call(inputs, function (input) { attach(input, null); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
}());
