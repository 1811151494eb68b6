/* Dashboard charts, drawn with the vendored Chart.js from the figures the page carries as JSON
   (#dashboard-data). Every chart has its numbers in a table next to it; without JavaScript (or
   Chart.js) the tables are all there is, and they are enough. */
(function () {
  "use strict";

  function readJSON(id) {
    const el = document.getElementById(id);
    if (!el) return null;
    try { return JSON.parse(el.textContent); } catch (e) { return null; }
  }

  // Okabe-Ito: distinguishable with the common colour-vision deficiencies.
  const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];
  const PRIORITY_COLOURS = { urgent: "#B42318", high: "#E69F00", normal: "#0072B2", low: "#98A2B3" };
  const MET = "#009E73";
  const BREACHED = "#D55E00";

  function dayLabels(days) {
    const lang = document.documentElement.lang || undefined;
    let format;
    try { format = new Intl.DateTimeFormat(lang, { day: "numeric", month: "short" }); } catch (e) { format = null; }
    return days.map((iso) => {
      const [y, m, d] = iso.split("-").map(Number);
      return format ? format.format(new Date(y, m - 1, d)) : iso;
    });
  }

  function baseOptions(extra) {
    const reduce = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    return Object.assign({
      responsive: true,
      maintainAspectRatio: false,
      animation: reduce ? false : { duration: 300 },
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "bottom" } },
    }, extra || {});
  }

  function draw(id, config) {
    const canvas = document.getElementById(id);
    if (!canvas) return null;
    return new window.Chart(canvas, config);
  }

  function start() {
    if (typeof window.Chart === "undefined") return; // the tables stay the only view
    const data = readJSON("dashboard-data");
    const words = readJSON("dashboard-labels") || {};
    if (!data) return;
    document.body.classList.add("has-charts");

    const intake = data.intake;
    draw("chart-intake", {
      type: "bar",
      data: {
        labels: dayLabels(intake.days),
        datasets: intake.series.map((s, i) => ({ label: s.label, data: s.data, backgroundColor: PALETTE[i % PALETTE.length], stack: "in" })),
      },
      options: baseOptions({
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: words.tickets } } },
      }),
    });

    const backlog = data.backlog;
    draw("chart-backlog", {
      type: "bar",
      data: {
        labels: backlog.statuses.map((s) => s.label),
        datasets: backlog.series.map((s) => ({ label: s.label, data: s.data, backgroundColor: PRIORITY_COLOURS[s.key] || PALETTE[0], stack: "backlog" })),
      },
      options: baseOptions({
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: words.tickets } } },
      }),
    });

    const sla = data.sla.targets;
    draw("chart-sla", {
      type: "bar",
      data: {
        labels: sla.map((t) => t.label),
        datasets: [
          { label: words.met, data: sla.map((t) => t.met), backgroundColor: MET, stack: "sla" },
          { label: words.breached, data: sla.map((t) => t.breached), backgroundColor: BREACHED, stack: "sla" },
        ],
      },
      options: baseOptions({
        indexAxis: "y",
        scales: { x: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }, y: { stacked: true } },
        plugins: {
          legend: { position: "bottom" },
          tooltip: {
            callbacks: {
              footer: (items) => {
                const t = sla[items[0].dataIndex];
                return t.compliance === null ? "" : `${words.compliance}: ${t.compliance} %`;
              },
            },
          },
        },
      }),
    });

    const frt = data.first_response;
    draw("chart-frt", {
      type: "line",
      data: {
        labels: dayLabels(frt.days),
        datasets: [
          { label: words.median, data: frt.median, borderColor: PALETTE[0], backgroundColor: PALETTE[0], spanGaps: false, tension: 0 },
          { label: words.p90, data: frt.p90, borderColor: PALETTE[5], backgroundColor: PALETTE[5], borderDash: [6, 4], spanGaps: false, tension: 0 },
        ],
      },
      options: baseOptions({
        scales: { y: { beginAtZero: true, title: { display: true, text: words.hours } } },
      }),
    });

    const orgs = data.escalations.organizations;
    if (orgs.length) {
      draw("chart-escalations", {
        type: "bar",
        data: {
          labels: orgs.map((o) => o.name),
          datasets: [
            { label: words.escalated, data: orgs.map((o) => o.escalated), backgroundColor: PALETTE[1] },
            { label: words.breachedTickets, data: orgs.map((o) => o.breached), backgroundColor: BREACHED },
          ],
        },
        options: baseOptions({
          indexAxis: "y",
          scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
        }),
      });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
