// 导入专家 / 导入题库: polls the import's progress (twice a second) while it runs in the
// background; once it has finished the page is loaded again to show the per-row report.
(function () {
  var box = document.getElementById("import-batch");
  if (!box || box.dataset.active !== "true") { return; }
  var bar = document.getElementById("import-bar");
  function show(data) {
    bar.style.width = data.percent + "%";
    bar.setAttribute("aria-valuenow", data.percent);
    bar.textContent = data.percent + "%";
    document.getElementById("import-status").textContent = data.status;
    document.getElementById("import-done").textContent = data.done;
    document.getElementById("import-total").textContent = data.total;
  }
  function poll() {
    fetch(box.dataset.statusUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { setTimeout(poll, 3000); return; }
        show(data);
        if (data.finished) { window.location.reload(); } else { setTimeout(poll, 500); }
      }).catch(function () { setTimeout(poll, 3000); });
  }
  poll();
})();
