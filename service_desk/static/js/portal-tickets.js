/* Portal ticket pages: progressive enhancement only; every form works without this file.
 * - New request: changing the type fetches the custom fields that apply to it and swaps them in,
 *   keeping what was typed into fields that stay. Without JS the "Show the fields" button does it.
 * - Forms marked data-portal-once (and the new-request form) disable their submit button once sent,
 *   so a double click sends once (the server refuses a second new request from the same form anyway).
 */
(function () {
  "use strict";

  function remember(container) {
    var values = {};
    container.querySelectorAll("input, select, textarea").forEach(function (el) {
      if (!el.name) return;
      if (el.type === "checkbox" || el.type === "radio") {
        values[el.name + "=" + el.value] = el.checked;
      } else if (el.multiple) {
        values[el.name] = Array.prototype.filter.call(el.options, function (o) { return o.selected; }).map(function (o) { return o.value; });
      } else {
        values[el.name] = el.value;
      }
    });
    return values;
  }

  function restore(container, values) {
    container.querySelectorAll("input, select, textarea").forEach(function (el) {
      if (!el.name) return;
      if (el.type === "checkbox" || el.type === "radio") {
        var key = el.name + "=" + el.value;
        if (key in values) el.checked = values[key];
      } else if (el.multiple && Array.isArray(values[el.name])) {
        Array.prototype.forEach.call(el.options, function (o) { o.selected = values[el.name].indexOf(o.value) >= 0; });
      } else if (el.name in values) {
        el.value = values[el.name];
      }
    });
  }

  function setUpTypeSwitch(form) {
    var select = form.querySelector("select[data-portal-type]");
    var container = form.querySelector("#portal-custom-fields");
    var refresh = form.querySelector("[data-portal-refresh]");
    if (!select || !container || !window.fetch) return;
    if (refresh) refresh.hidden = true;
    select.addEventListener("change", function () {
      var url = new URL(container.getAttribute("data-fields-url"), window.location.href);
      url.searchParams.set("fields", "1");
      if (select.value) url.searchParams.set("type", select.value);
      var followUp = form.querySelector("input[name=follow_up]");
      if (followUp) url.searchParams.set("follow_up", followUp.value);
      var before = remember(container);
      container.setAttribute("aria-busy", "true");
      fetch(url.toString(), { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.text();
        })
        .then(function (html) {
          container.innerHTML = html;
          restore(container, before);
        })
        .catch(function () {
          if (refresh) refresh.hidden = false; /* fall back to the plain button */
        })
        .finally(function () { container.removeAttribute("aria-busy"); });
    });
  }

  function sendOnce(form) {
    form.addEventListener("submit", function (event) {
      var submitter = event.submitter;
      if (submitter && submitter.hasAttribute("formaction")) return; /* e.g. "This answered my question" */
      if (submitter && submitter.name === "refresh_fields") return;
      if (form.dataset.sent === "1") { event.preventDefault(); return; }
      form.dataset.sent = "1";
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.setAttribute("aria-disabled", "true"); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-portal-ticket-form]").forEach(function (form) {
      setUpTypeSwitch(form);
      sendOnce(form);
    });
    document.querySelectorAll("form[data-portal-once]").forEach(sendOnce);
  });
})();
