// 导出任务: polls the export's progress (every second) until it has finished, then shows
// the download link.
(function () {
  var box = document.getElementById("export-job");
  if (!box) { return; }
  var bar = document.getElementById("export-bar");
  function show(data) {
    bar.style.width = data.percent + "%";
    bar.setAttribute("aria-valuenow", data.percent);
    bar.textContent = data.percent + "%";
    document.getElementById("export-status").textContent = data.status;
    document.getElementById("export-done").textContent = data.done;
    document.getElementById("export-total").textContent = data.total;
    document.getElementById("export-error").textContent = data.error;
    var link = document.getElementById("export-download");
    if (data.download_url) { link.href = data.download_url; link.hidden = false; }
    if (data.finished) { bar.className = "progress-bar" + (data.error ? " progress-bar-danger" : " progress-bar-success"); }
  }
  function poll() {
    fetch(box.dataset.statusUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        show(data);
        if (!data.finished) { setTimeout(poll, 1000); }
      }).catch(function () { setTimeout(poll, 3000); });
  }
  poll();
})();
