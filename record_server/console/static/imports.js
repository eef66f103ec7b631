// The import job's page while it runs: poll its progress, show it, reload once it is final.
(function () {
  "use strict";
  var box = document.getElementById("job");
  var url = box && box.getAttribute("data-poll");
  if (!url) { return; }
  var bar = document.getElementById("import-progress");
  var text = box.querySelector("[data-field=progress]");
  function poll() {
    fetch(url, {credentials: "same-origin", cache: "no-store"}).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (p) {
      if (!p) { return; }
      if (p.final || p.status !== box.getAttribute("data-status")) { window.location.reload(); return; }
      bar.max = Math.max(p.total, 1); bar.value = p.done;
      text.textContent = p.done + " / " + p.total;
      window.setTimeout(poll, 500);
    }).catch(function () { window.setTimeout(poll, 2000); });
  }
  window.setTimeout(poll, 300);
})();
