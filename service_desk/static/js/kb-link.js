/* "Insert article" picker of the ticket reply form (agent workspace).
 *
 * templates/knowledge/desk/_link_picker.html renders a hidden <details data-kb-link> inside the
 * reply form; this script shows it, searches published articles (desk:kb_link_search, debounced)
 * and inserts "Title: URL" at the cursor of the reply textarea (data-kb-target = its id).
 * Enter in the search field searches; it never submits the reply.
 */
(function () {
  "use strict";
  if (window.kbLinkLoaded) { return; }
  window.kbLinkLoaded = true;

  var DELAY_MS = 250;

  function insertAtCursor(textarea, text) {
    textarea.focus();
    var start = typeof textarea.selectionStart === "number" ? textarea.selectionStart : textarea.value.length;
    var end = typeof textarea.selectionEnd === "number" ? textarea.selectionEnd : start;
    var before = textarea.value.slice(0, start);
    if (before && !/\s$/.test(before)) { text = " " + text; }
    if (typeof textarea.setRangeText === "function") {
      textarea.setRangeText(text, start, end, "end");
    } else {
      textarea.value = before + text + textarea.value.slice(end);
      textarea.selectionStart = textarea.selectionEnd = start + text.length;
    }
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function setup(picker) {
    if (picker.dataset.kbLinkAttached) { return; }
    picker.dataset.kbLinkAttached = "1";
    picker.hidden = false;
    var url = picker.getAttribute("data-kb-link-url");
    var targetId = picker.getAttribute("data-kb-target");
    var form = picker.closest("form");
    var target = (targetId && document.getElementById(targetId)) ||
      (form ? form.querySelector("textarea") : null);
    var input = picker.querySelector(".kb-link-q");
    var box = picker.querySelector(".kb-link-box");
    var status = picker.querySelector(".kb-link-status");
    var timer = null;
    var controller = null;
    var loaded = null;
    // Where the cursor was in the reply before the agent went to the picker.
    var caret = null;

    if (target) {
      target.addEventListener("blur", function () {
        caret = [target.selectionStart, target.selectionEnd];
      });
    }

    function search() {
      var query = input.value.trim();
      if (query === loaded) { return; }
      loaded = query;
      if (controller) { controller.abort(); }
      controller = window.AbortController ? new AbortController() : null;
      fetch(url + "?q=" + encodeURIComponent(query), {
        credentials: "same-origin",
        headers: { "Accept": "text/html", "X-Requested-With": "fetch" },
        signal: controller ? controller.signal : undefined
      }).then(function (response) {
        return response.ok ? response.text() : "";
      }).then(function (html) {
        box.innerHTML = html;
        var found = box.querySelector("[data-kb-status]");
        if (status) { status.textContent = found ? found.getAttribute("data-kb-status") : ""; }
      }).catch(function () { /* aborted or offline: keep what is shown */ });
    }

    picker.addEventListener("toggle", function () {
      if (picker.open) { search(); input.focus(); }
    });
    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(search, DELAY_MS);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
        window.clearTimeout(timer);
        search();
      } else if (event.key === "Escape") {
        picker.open = false;
        if (target) { target.focus(); }
      }
    });
    box.addEventListener("click", function (event) {
      var button = event.target.closest("[data-kb-insert]");
      if (!button || !target) { return; }
      event.preventDefault();
      if (caret) {
        target.selectionStart = caret[0];
        target.selectionEnd = caret[1];
      }
      insertAtCursor(target, button.getAttribute("data-kb-title") + ": " + button.getAttribute("data-kb-url"));
      caret = [target.selectionStart, target.selectionEnd];
    });
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-kb-link]"), setup);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
  // The ticket page swaps parts with htmx: pick up pickers that arrive later.
  document.addEventListener("htmx:afterSettle", init);
}());
