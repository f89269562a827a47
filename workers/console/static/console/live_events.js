// Live Events refreshes itself: every 5 s the first page's rows are fetched again (/live-events/rows, same
// filters) and put in place of the table's body. Older pages stay as they are. Without JavaScript the page is
// the same, and a reload shows new events. A click anywhere on a row opens the event.
(function () {
  "use strict";
  var INTERVAL_MS = 5000;

  function openRow(event) {
    if (event.target.closest("a, button, form, input")) return;
    var row = event.target.closest("tr[data-href]");
    if (row) window.location.href = row.getAttribute("data-href");
  }

  function start() {
    var table = document.getElementById("live-events");
    if (!table) return;
    table.addEventListener("click", openRow);
    var url = table.getAttribute("data-rows-url");
    if (!url) return;
    var body = document.getElementById("live-rows");
    var indicator = document.getElementById("live-indicator");
    if (indicator) indicator.hidden = false;
    function refresh() {
      if (document.hidden) return;
      fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (answer) {
          if (answer.redirected || !answer.ok) throw new Error("refresh answered " + answer.status);
          return answer.text();
        })
        .then(function (html) {
          body.innerHTML = html;
          table.setAttribute("data-refreshed", String(Date.now()));
        })
        .catch(function () {
          if (indicator) indicator.textContent = "Refresh paused (signed out or server unreachable): reload the page.";
        });
    }
    window.setInterval(refresh, INTERVAL_MS);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
